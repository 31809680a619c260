// Colour for terminal output, by the usual rules: --color always|never is
// obeyed as given; auto (the default) colours only a terminal, and not when
// NO_COLOR is set to anything non-empty (no-color.org) or TERM is "dumb".
// An explicit --color always wins over NO_COLOR, as no-color.org allows for
// a user's own request. The escapes come from picocolors.
import picocolors from 'picocolors';

export const COLOR_MODES = ['auto', 'always', 'never'] as const;
export type ColorMode = (typeof COLOR_MODES)[number];

export type Colors = ReturnType<typeof picocolors.createColors>;

/** Whether output to stream is coloured under mode. */
export function colorEnabled(mode: ColorMode, stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  switch (mode) {
    case 'always': return true;
    case 'never': return false;
    case 'auto':
      if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
      if (env.TERM === 'dumb') return false;
      return stream.isTTY === true;
    default: {
      const never: never = mode;
      throw new RangeError(`unknown colour mode ${String(never)}`);
    }
  }
}

/** The palette: each function wraps text in its escape, or returns it unchanged when colour is off. */
export function colors(enabled: boolean): Colors {
  return picocolors.createColors(enabled);
}

/** A --color value, or undefined when it names none. */
export function parseColorMode(value: string): ColorMode | undefined {
  return (COLOR_MODES as readonly string[]).includes(value) ? value as ColorMode : undefined;
}
