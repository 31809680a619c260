// The agent's own log: JSON lines on stderr (journald keeps them as they
// are), one object per line with time, level and msg, by pino.
import { pino, type Logger } from 'pino';
import type { LogLevel } from './config.js';

export type AgentLogger = Logger;

/** A logger writing synchronously to `fd` (default stderr), so nothing is lost when the agent exits. */
export function agentLogger(level: LogLevel, fd = 2): AgentLogger {
  return pino({
    level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  }, pino.destination({ fd, sync: true }));
}
