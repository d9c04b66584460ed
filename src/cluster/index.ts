import { ClusterNode } from './node.js';
import type { ClusterNodeOptions } from './node.js';
import { ClusterRouter } from './route.js';

export type { ClusterNode, ClusterNodeOptions };

/** A replica of a cluster (docs/scaling.md): the node and the router of its requests. */
export function createClusterNode(options: ClusterNodeOptions): ClusterNode {
  const node = new ClusterNode(options);
  node.router = new ClusterRouter(node);
  return node;
}
