// The error of a file the kernel describes itself in (an ELF binary,
// /proc/kallsyms) that cannot be used: which file, and why.

export class KernelFileError extends Error {
  override readonly name: string = 'KernelFileError';
  constructor(
    readonly path: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
