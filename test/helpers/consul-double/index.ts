/** The Consul HTTP API double and its helpers; see server.ts. */
export { ConsulDouble, type ConsulDoubleOptions, type Fault, type RecordedRequest } from './server.js';
export type { AclOptions, AclPolicy } from './acl.js';
export { createTestPki, hasOpenssl, type TestPki } from './tls.js';
