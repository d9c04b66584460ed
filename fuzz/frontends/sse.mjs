export async function runBatch() { return {}; }
