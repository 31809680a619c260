// The configuration's policy and rules paths, watched: a file written, added,
// removed or renamed below one of them calls back once things settle. A
// Kubernetes ConfigMap mounted as a directory changes by an atomic swap of its
// `..data` link (kubelet writes a new `..TIMESTAMP` directory, then renames a
// new link over the old one): the directory's own inotify events show it, so
// each path is watched itself (a directory), or through its parent (a file,
// which editors and kubelet replace rather than rewrite).
import { watch, statSync, type FSWatcher } from 'node:fs';
import path from 'node:path';

/** Quiet time after the last change before the callback runs: a ConfigMap swap is several events. */
export const SETTLE_MS = 300;

export class PathWatcher {
  private watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;
  private watched = '';

  constructor(private readonly onChange: () => void, private readonly onError: (path: string, message: string) => void) {}

  /** Watches these paths instead of the previous ones (a reload may change them). */
  set(paths: readonly string[]): void {
    const key = JSON.stringify(paths);
    if (key === this.watched) return;
    this.stop();
    this.watched = key;
    for (const p of paths) {
      const st = statSync(p, { throwIfNoEntry: false });
      const dir = st?.isDirectory() ? p : path.dirname(p);
      const name = st?.isDirectory() ? undefined : path.basename(p);
      try {
        const w = watch(dir, { persistent: false }, (_event, file) => {
          // A file's parent holds other files: only its own name (or an unnamed event) counts.
          if (name === undefined || file === null || file === name) this.changed();
        });
        w.on('error', (e) => this.onError(p, e.message));
        this.watchers.push(w);
      } catch (e) {
        this.onError(p, (e as Error).message);
      }
    }
  }

  private changed(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.onChange();
    }, SETTLE_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const w of this.watchers) w.close();
    this.watchers = [];
    this.watched = '';
  }
}
