/**
 * The volume bookkeeping behind the plugin protocol: volumes, their mounts reference-counted per
 * Docker mount ID, and a state file so a restarted driver knows what Docker believes exists.
 * Docker calls Create once per volume and never again after a driver restart, so the options
 * (secrets included) are kept in the state file: 0600 in a 0700 directory, like the keys.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { fuseSshfsMounts, isHealthy, runSshfs, unmount } from './sshfs-mount.js';
import { describeSpec, parseVolumeOptions, type SshfsVolumeSpec } from './volume-options.js';
import { atriumError } from '../../shared/errors.js';

export interface DriverConfig {
  stateDir: string;
  keysDir: string;
  defaultKnownHosts: string;
  sshfsPath: string;
  mountTimeoutMs: number;
  log: Logger;
}

interface VolumeRecord {
  options: Record<string, string>;
  createdAt: string;
  /** Docker mount IDs currently using the mount. */
  refs: string[];
}

interface StateFile {
  version: 1;
  volumes: Record<string, VolumeRecord>;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$/;

function secureDir(path: string): void {
  mkdirSync(path, { recursive: true, mode: 0o700 });
  chmodSync(path, 0o700);
}

export class SshfsDriver {
  private volumes: Record<string, VolumeRecord> = {};
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly stateFile: string;
  private readonly mountRoot: string;

  constructor(private readonly cfg: DriverConfig) {
    secureDir(cfg.stateDir);
    secureDir(cfg.keysDir);
    this.stateFile = join(cfg.stateDir, 'state.json');
    this.mountRoot = join(cfg.stateDir, 'mnt');
    mkdirSync(this.mountRoot, { recursive: true, mode: 0o700 });
    if (existsSync(this.stateFile)) this.volumes = (JSON.parse(readFileSync(this.stateFile, 'utf8')) as StateFile).volumes ?? {};
  }

  /**
   * After a restart: keep mounts that are still up and healthy, remount those Docker still
   * believes mounted but which died with the previous driver, forget refs of nothing.
   */
  async adopt(): Promise<void> {
    const mounted = fuseSshfsMounts();
    for (const [name, rec] of Object.entries(this.volumes)) {
      const mp = this.mountpoint(name);
      const up = mounted.has(mp);
      if (rec.refs.length === 0) {
        if (up) await unmount(mp).catch(() => undefined);
        continue;
      }
      if (up && (await isHealthy(mp))) {
        this.cfg.log.info({ volume: name, refs: rec.refs.length }, 're-adopted sshfs mount');
        continue;
      }
      if (up) await unmount(mp).catch(() => undefined);
      try {
        await this.doMount(name, rec);
        this.cfg.log.info({ volume: name }, 'remounted sshfs volume after restart');
      } catch (err) {
        this.cfg.log.error({ volume: name, err: (err as Error).message }, 'could not remount sshfs volume after restart');
      }
    }
  }

  private save(): void {
    const tmp = `${this.stateFile}.tmp`;
    const data: StateFile = { version: 1, volumes: this.volumes };
    writeFileSync(tmp, JSON.stringify(data), { mode: 0o600 });
    renameSync(tmp, this.stateFile);
  }

  /** Operations on one volume run one at a time; different volumes proceed in parallel. */
  private serial<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(name) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const settled = next.then(() => undefined, () => undefined);
    this.locks.set(name, settled);
    void settled.then(() => { if (this.locks.get(name) === settled) this.locks.delete(name); });
    return next;
  }

  mountpoint(name: string): string {
    return join(this.mountRoot, name);
  }

  private keyFile(name: string): string {
    return join(this.cfg.keysDir, `${name}.key`);
  }

  private checkName(name: unknown): string {
    if (typeof name !== 'string' || !NAME.test(name)) throw atriumError('ATRIUM_ERR_VOLUME_BAD_OPTIONS', `sshfs: invalid volume name ${JSON.stringify(name)}`);
    return name;
  }

  private record(name: string): VolumeRecord {
    const rec = this.volumes[name];
    if (!rec) throw atriumError('ATRIUM_ERR_VOLUME_NOT_FOUND', `sshfs: no such volume: ${name}`);
    return rec;
  }

  async create(rawName: unknown, opts: Record<string, string> | null | undefined): Promise<void> {
    const name = this.checkName(rawName);
    // Validate now so `docker volume create` (and the task) fails with the reason, not the mount.
    parseVolumeOptions(opts ?? {});
    await this.serial(name, async () => {
      if (this.volumes[name]) return;
      this.volumes[name] = { options: { ...opts }, createdAt: new Date().toISOString(), refs: [] };
      this.save();
    });
  }

  async remove(rawName: unknown): Promise<void> {
    const name = this.checkName(rawName);
    await this.serial(name, async () => {
      const rec = this.volumes[name];
      if (!rec) return;
      if (rec.refs.length > 0) throw atriumError('ATRIUM_ERR_VOLUME_IN_USE', `sshfs: volume ${name} is in use by ${rec.refs.length} container(s)`);
      await this.release(name);
      delete this.volumes[name];
      this.save();
    });
  }

  async mount(rawName: unknown, id: unknown): Promise<string> {
    const name = this.checkName(rawName);
    const mountId = typeof id === 'string' && id ? id : 'unknown';
    return this.serial(name, async () => {
      const rec = this.record(name);
      const mp = this.mountpoint(name);
      const up = fuseSshfsMounts().has(mp) && (await isHealthy(mp));
      if (!up) {
        await unmount(mp).catch(() => undefined);
        await this.doMount(name, rec);
      }
      if (!rec.refs.includes(mountId)) rec.refs.push(mountId);
      this.save();
      return mp;
    });
  }

  private async doMount(name: string, rec: VolumeRecord): Promise<void> {
    const spec: SshfsVolumeSpec = parseVolumeOptions(rec.options);
    const mp = this.mountpoint(name);
    mkdirSync(mp, { recursive: true, mode: 0o755 });
    const files = { logFile: join(this.cfg.keysDir, `${name}.log`), keyFile: undefined as string | undefined, pinnedKnownHosts: undefined as string | undefined };
    if (spec.keyContent) {
      files.keyFile = this.keyFile(name);
      writeFileSync(files.keyFile, spec.keyContent, { mode: 0o600 });
    }
    if (spec.hostKey) {
      files.pinnedKnownHosts = join(this.cfg.keysDir, `${name}.known_hosts`);
      writeFileSync(files.pinnedKnownHosts, `atrium-pinned ${spec.hostKey}\n`, { mode: 0o600 });
    }
    if (spec.insecureIgnoreHostKey) {
      this.cfg.log.warn({ volume: name, target: describeSpec(spec) }, 'host key checking is turned off for this volume (explicit option)');
    }
    try {
      await runSshfs({ sshfsPath: this.cfg.sshfsPath, spec, mountpoint: mp, files, defaultKnownHosts: this.cfg.defaultKnownHosts, timeoutMs: this.cfg.mountTimeoutMs });
      this.cfg.log.info({ volume: name, target: describeSpec(spec) }, 'sshfs mounted');
    } catch (err) {
      this.cfg.log.warn({ volume: name, target: describeSpec(spec), err: (err as Error).message }, 'sshfs mount failed');
      await this.release(name);
      throw err;
    } finally {
      rmSync(files.logFile, { force: true });
    }
  }

  /** Unmount and delete every secret file of the volume. */
  private async release(name: string): Promise<void> {
    const mp = this.mountpoint(name);
    await unmount(mp);
    for (const suffix of ['.key', '.known_hosts', '.log']) rmSync(join(this.cfg.keysDir, `${name}${suffix}`), { force: true });
    try { rmdirSync(mp); } catch { /* not there, or still busy after a lazy unmount */ }
  }

  async unmount(rawName: unknown, id: unknown): Promise<void> {
    const name = this.checkName(rawName);
    await this.serial(name, async () => {
      const rec = this.record(name);
      rec.refs = rec.refs.filter((r) => r !== id);
      if (rec.refs.length === 0) await this.release(name);
      this.save();
    });
  }

  path(rawName: unknown): string {
    const name = this.checkName(rawName);
    this.record(name);
    const mp = this.mountpoint(name);
    return fuseSshfsMounts().has(mp) ? mp : '';
  }

  get(rawName: unknown): { Name: string; Mountpoint: string; CreatedAt: string; Status: Record<string, unknown> } {
    const name = this.checkName(rawName);
    const rec = this.record(name);
    const mp = this.path(name);
    let target = '';
    try { target = describeSpec(parseVolumeOptions(rec.options)); } catch { target = 'invalid options'; }
    return { Name: name, Mountpoint: mp, CreatedAt: rec.createdAt, Status: { mounted: mp !== '', refs: rec.refs.length, target } };
  }

  list(): Array<{ Name: string; Mountpoint: string }> {
    const mounted = fuseSshfsMounts();
    return Object.keys(this.volumes).map((name) => ({ Name: name, Mountpoint: mounted.has(this.mountpoint(name)) ? this.mountpoint(name) : '' }));
  }
}
