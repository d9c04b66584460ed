export async function runBatch() { return {}; }
export const ownProcess = true;
