// The process pipeline stage: the cache of process images and their tree,
// container identification from cgroups, Tetragon's exec ids.
export * from './types.js';
export { ProcessCache, decodeExitCode, ttyName } from './cache.js';
export { execId, parseExecId } from './exec-id.js';
export {
  containerFromCgroupPath, containerFromProcCgroup, containerOfPid, parseProcCgroup, cgroupV2Path,
  containerCgroupIds, containerCgroups, walkCgroups, CgroupPaths, ContainerLookupError,
  type CgroupDir, type ContainerCgroup, type ProcCgroupLine,
} from './container.js';
