import { Type, type Static } from '@sinclair/typebox';

// Placeholder owned by the Swarm spawner work (issue 5); filled in there.
export const SwarmSpawnerOptions = Type.Object(
  {},
  { additionalProperties: false, default: {}, description: 'The Docker Swarm spawner (spawner.kind: swarm).' },
);
export type SwarmSpawnerOptions = Static<typeof SwarmSpawnerOptions>;
