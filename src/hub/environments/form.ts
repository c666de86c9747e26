/**
 * The spawn form's "Environment" field: only environments offered to this user now, each with its
 * preload status ("ready on 3/3 nodes"). Choosing none keeps the spawner's own fields.
 */
import type { HubContext } from '../context.js';
import type { UserRow } from '../db/index.js';
import type { OptionsForm } from '../../spawners/spawner.js';
import { preloadsOf } from '../images/registry.js';
import { environmentsOf } from './catalogue.js';

export function withEnvironments(hub: HubContext, user: UserRow, form: OptionsForm | null | undefined): OptionsForm | null {
  const offered = environmentsOf(hub.stores.db).offeredTo({ name: user.name, groups: hub.stores.groups.groupsOf(user.id) });
  if (offered.length === 0) return form ?? null;
  const preloads = preloadsOf(hub);
  const choices = offered.map((e) => {
    const r = preloads?.readiness(e.image);
    const ready = r && r.total > 0 ? ` (ready on ${r.ready}/${r.total} nodes)` : '';
    return { value: e.name, label: `${e.name}${ready}`, description: e.description || e.image };
  });
  const field = {
    name: 'environment',
    label: 'Environment',
    type: 'select' as const,
    choices: [{ value: '', label: 'None: choose below' }, ...choices],
    default: choices[0]!.value,
    help: 'Environments your course offers; the environment decides the image and resources.',
  };
  return { fields: [field, ...(form?.fields ?? [])] };
}
