/**
 * Turns the admin's mount list into Docker service mounts. SSHFS mounts become volumes of the atrium
 * sshfs driver whose options are filled from auth_state; those volumes get a fresh name per spawn,
 * because Docker silently reuses an existing volume and ignores new options — a stale volume would
 * mount with yesterday's credentials.
 */
import { randomBytes } from 'node:crypto';
import { fillNames } from '../../shared/name-template.js';
import { SpawnError } from '../spawner.js';
import { mountFields } from '../mount-fields.js';
import type { SwarmMount } from './options.js';
import { parseSizeBytes } from './sizes.js';

/** Subset of Docker's Mount spec (dockerode's types lag behind the API for these fields). */
export interface DockerMount {
  Type: 'bind' | 'volume' | 'tmpfs';
  Source?: string;
  Target: string;
  ReadOnly?: boolean;
  VolumeOptions?: { NoCopy?: boolean; Labels?: Record<string, string>; DriverConfig?: { Name?: string; Options?: Record<string, string> } };
  TmpfsOptions?: { SizeBytes?: number };
}

export interface MountPlan {
  mounts: DockerMount[];
  /** Volumes to remove when the server stops or the start fails. */
  ephemeralVolumes: string[];
}

interface MountInput {
  mounts: SwarmMount[];
  serviceName: string;
  username: string;
  serverName: string;
  authState: Record<string, unknown> | null;
  labels: Record<string, string>;
}

const PLACEHOLDER = /\{([A-Za-z0-9_]+)\}/g;

function fillTemplate(template: string, fields: Record<string, string>, where: string, username: string, serverName: string): string {
  return template.replace(PLACEHOLDER, (whole, name: string) => {
    if (name === 'username') return username;
    if (name === 'servername') return serverName;
    const v = fields[name];
    if (v === undefined) throw new SpawnError(`${where}: the mount data has no ${name} field`, `placeholder ${whole}`);
    return v;
  });
}

export function planMounts(input: MountInput): MountPlan {
  const { username, serverName } = input;
  const plan: MountPlan = { mounts: [], ephemeralVolumes: [] };
  input.mounts.forEach((m, i) => {
    switch (m.type) {
      case 'bind':
        plan.mounts.push({ Type: 'bind', Source: fillNames(m.source, { username, servername: serverName }), Target: m.target, ReadOnly: m.readOnly });
        break;
      case 'tmpfs':
        plan.mounts.push({
          Type: 'tmpfs',
          Target: m.target,
          TmpfsOptions: m.sizeBytes === undefined ? undefined : { SizeBytes: parseSizeBytes(m.sizeBytes) },
        });
        break;
      case 'volume': {
        const name = fillNames(m.source, { username, servername: serverName });
        const driverOptions = Object.fromEntries(Object.entries(m.driverOptions).map(([k, v]) => [k, fillNames(v, { username, servername: serverName })]));
        plan.mounts.push({
          Type: 'volume',
          Source: name,
          Target: m.target,
          ReadOnly: m.readOnly,
          VolumeOptions: {
            Labels: { ...input.labels, 'atrium.ephemeral': String(m.ephemeral) },
            DriverConfig: m.driver ? { Name: m.driver, Options: driverOptions } : undefined,
          },
        });
        if (m.ephemeral) plan.ephemeralVolumes.push(name);
        break;
      }
      case 'sshfs': {
        const where = `sshfs mount ${m.target}`;
        const fields = mountFields(input.authState, m.authStateKey, 'sshfs mount');
        if (!fields) {
          if (m.optional) break;
          throw new SpawnError(`${where}: no mount credentials in auth_state.${m.authStateKey} (log in again through the portal)`);
        }
        const options: Record<string, string> = {};
        for (const [k, v] of Object.entries(m.options)) {
          const filled = fillTemplate(v, fields, where, username, serverName);
          if (filled !== '') options[k] = filled; // an empty PORT means "driver default"
        }
        const name = `${input.serviceName}-sshfs${i}-${randomBytes(3).toString('hex')}`;
        plan.mounts.push({
          Type: 'volume',
          Source: name,
          Target: m.target,
          ReadOnly: m.readOnly,
          VolumeOptions: {
            // Never copy the image's files into the user's remote folder.
            NoCopy: true,
            Labels: { ...input.labels, 'atrium.ephemeral': 'true' },
            DriverConfig: { Name: m.driver, Options: options },
          },
        });
        plan.ephemeralVolumes.push(name);
        break;
      }
    }
  });
  return plan;
}
