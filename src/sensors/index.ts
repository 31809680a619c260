/**
 * Vigil's sensors as a library. Each is a Sensor (load its object, open its
 * ring, attach, decode records into typed events, drain, close), fed by one
 * ProcessCache and, optionally, one FilterSet of in-kernel filters.
 *
 * ```ts
 * using cache = new ProcessCache();
 * const s = await ProcessSensor.start({ cache, kinds: ['exec'], onEvent: (e) => console.log(e.process.binary) });
 * // ... s.close();
 * ```
 *
 * @module vigil/sensors
 */
export { Sensor, type LoadSensorOptions, type SensorHooks, type SensorStats, type RingOptions, type RingSensorOptions } from './sensor.js';
export { ProcessSensor, PROCESS_EVENT_KINDS, type ProcessSensorOptions, type ProcessSensorStats, type ProcessEventKind, type ProcessTable } from './process.js';
export { FileSensor, FILE_SYSCALLS, type FileSensorOptions } from './file.js';
export { SyscallSensor, type SyscallSensorOptions, type DropCounts, type SyscallSnapshot, type SyscallRow, type FileSnapshot, type FileRow } from './syscalls.js';
export { SysEventSensor, SYS_CALLS, type SysEventSensorOptions } from './sysevents.js';
export { FilterSet, type FilterOptions } from './filter.js';
export { ProcessCache } from '../process/cache.js';
export type { ProcessCacheOptions, ProcessCacheStats, ExecRecord, ForkRecord, ExitRecord, ProcessLookup } from '../process/types.js';
export type { SyscallArch } from '../kernel/syscalls.js';
export type { PathSource } from './fd-paths.js';
export type { FlagKind } from './flags.js';
