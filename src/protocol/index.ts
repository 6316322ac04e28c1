export { PROTO_FILES, LOADER_OPTIONS, protoRoot, brookPackageDefinition, brookServices, serviceDefinition } from './load';
export type { BrookServices } from './load';
export type * as pb from './generated/brook/v1/messages';
