// vigil: the package's main entry point, the eBPF runtime and run-time
// compilation of BPF C. The other public entry points: vigil/bpf (the
// runtime alone), vigil/inline, vigil/sensors, vigil/events, vigil/symbols.
// Nothing else is public: deep imports of dist/ are not supported.
export * from './bpf/index.js';
export * from './inline/index.js';
