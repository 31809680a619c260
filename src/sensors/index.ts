// vigil/sensors: the sensors as a library. Each is a Sensor (load its object,
// open its ring, attach, decode records into typed events, drain, close), fed
// by one ProcessCache and, optionally, one FilterSet of in-kernel filters.
//
//   using cache = new ProcessCache();
//   const s = await ProcessSensor.start({ cache, kinds: ['exec'], onEvent: (e) => console.log(e.process.binary) });
//   ... s.close();
export { Sensor, type SensorHooks, type SensorStats, type RingOptions, type RingSensorOptions } from './sensor.js';
export { ProcessSensor, PROCESS_EVENT_KINDS, type ProcessSensorOptions, type ProcessEventKind, type ProcessTable } from './process.js';
export { FileSensor, FILE_SYSCALLS, type FileSensorOptions } from './file.js';
export { SyscallSensor, type SyscallSensorOptions, type SyscallSnapshot, type SyscallRow, type FileSnapshot, type FileRow } from './syscalls.js';
export { SysEventSensor, SYS_CALLS, type SysEventSensorOptions } from './sysevents.js';
export { FilterSet, type FilterOptions } from './filter.js';
export { ProcessCache } from '../process/cache.js';
