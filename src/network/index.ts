// src/network: flows with process identity (TCP, UDP, DNS), their records in
// Hubble's shape, filters; and enforcement (firewall, netpolicy: their own
// modules, imported directly).
export type * from './flow-types.js';
export { FlowSensor, decodeTcpRecord, decodeDnsRecord, tcpStateName } from './flow-sensor.js';
export type { FlowSensorOptions, TcpFlowEvent, DnsCaptureEvent, UdpConversation, SocketOwner } from './flow-sensor.js';
export { FlowTracker } from './flow-tracker.js';
export type { FlowTrackerOptions, FlowTrackerStats } from './flow-tracker.js';
export { FlowPipeline } from './flow-pipeline.js';
export type { FlowPipelineOptions } from './flow-pipeline.js';
export { newFlowRecord, flowToJson, formatFlowCompact, flowSummary } from './flow-format.js';
export { FlowFilter, FLOW_FILTER_KINDS } from './flow-filter.js';
export type { FlowFilterTerm, FlowFilterKind } from './flow-filter.js';
export { parseDnsMessage, encodeDnsMessage, DnsParseError, dnsTypeName, dnsRcodeName } from './dns.js';
export type { DnsMessage, DnsQuestion, DnsRecord } from './dns.js';
export { NameCache, DnsMatcher } from './dns-view.js';
export { CidrFilter, addressFromKernel, parseIp } from '../kernel/addr.js';
