/**
 * The package's main entry point: the eBPF runtime (vigil/bpf) and run-time
 * compilation of BPF C (vigil/inline). The other public entry points are
 * vigil/sensors, vigil/events and vigil/symbols; nothing else is public:
 * deep imports of dist/ are not supported.
 *
 * @module vigil
 */
export * from './bpf/index.js';
export * from './inline/index.js';
