/**
 * Numbered schema migrations. Append only: a released migration is never edited, a change is a
 * new entry. Each runs in a transaction together with its row in schema_migrations.
 */
export const migrations: { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: 'initial',
    sql: `
      CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        admin INTEGER NOT NULL DEFAULT 0,
        created TEXT NOT NULL,
        last_activity TEXT,
        auth_state BLOB
      );
      CREATE TABLE groups (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE
      );
      CREATE TABLE user_groups (
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        group_id INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
        PRIMARY KEY (user_id, group_id)
      );
      -- One row per (user, server name). status: stopped | pending | running | stopping.
      CREATE TABLE servers (
        id INTEGER PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        name TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL DEFAULT 'stopped',
        url TEXT,
        state TEXT NOT NULL DEFAULT '{}',
        user_options TEXT,
        started TEXT,
        last_activity TEXT,
        UNIQUE (user_id, name)
      );
      CREATE TABLE oauth_clients (
        id TEXT PRIMARY KEY,
        secret_hash TEXT NOT NULL DEFAULT '',
        redirect_uri TEXT NOT NULL DEFAULT '',
        description TEXT NOT NULL DEFAULT '',
        allowed_scopes TEXT NOT NULL DEFAULT '[]',
        server_id INTEGER REFERENCES servers(id) ON DELETE CASCADE
      );
      INSERT INTO oauth_clients (id, description) VALUES ('jupyterhub', 'JupyterHub');
      -- API tokens and OAuth access tokens. Only a hash of the token is stored.
      CREATE TABLE api_tokens (
        id INTEGER PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        prefix TEXT NOT NULL,
        hashed TEXT NOT NULL,
        client_id TEXT NOT NULL DEFAULT 'jupyterhub' REFERENCES oauth_clients(id) ON DELETE CASCADE,
        scopes TEXT NOT NULL DEFAULT '["inherit"]',
        note TEXT NOT NULL DEFAULT '',
        session_id TEXT,
        created TEXT NOT NULL,
        last_activity TEXT,
        expires_at TEXT,
        server_id INTEGER REFERENCES servers(id) ON DELETE CASCADE
      );
      CREATE INDEX api_tokens_prefix ON api_tokens(prefix);
      CREATE TABLE oauth_codes (
        code_hash TEXT PRIMARY KEY,
        client_id TEXT NOT NULL REFERENCES oauth_clients(id) ON DELETE CASCADE,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        scopes TEXT NOT NULL,
        redirect_uri TEXT NOT NULL,
        session_id TEXT,
        expires_at TEXT NOT NULL
      );
      -- Browser login sessions; id is the hash of the cookie value.
      CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        session_id TEXT NOT NULL,
        created TEXT NOT NULL,
        expires_at TEXT NOT NULL
      );
      CREATE INDEX sessions_user ON sessions(user_id);
    `,
  },
  {
    version: 2,
    name: 'spawn-attempts',
    sql: `
      -- The spawn attempt a server's backend object belongs to; written with status 'pending'
      -- before the spawner is called, so a restarted hub can tell its own half-started objects
      -- (tagged with this id) from those of an earlier attempt.
      ALTER TABLE servers ADD COLUMN spawn_attempt TEXT;
      -- Small facts about this hub installation (e.g. its instance id, the owner prefix of every
      -- backend object it creates).
      CREATE TABLE hub_meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
      );
    `,
  },
  {
    version: 3,
    name: 'server-display-names',
    sql: `
      -- A label the user chooses for a named server ("Thesis GPU"); the name stays the URL part.
      ALTER TABLE servers ADD COLUMN display_name TEXT;
      -- The admin page sorts 10,000 users by last activity and filters running servers per user.
      CREATE INDEX users_last_activity ON users(last_activity);
      CREATE INDEX servers_status ON servers(status);
    `,
  },
  {
    // HPC portal: batch jobs (issue 14, src/hub/jobs/).
    version: 4,
    name: 'portal-jobs',
    sql: `
      -- One row per batch job submitted through the portal (not per spawner job): the history
      -- the pages and /hub/api/jobs show, kept after Slurm has forgotten the job.
      CREATE TABLE jobs (
        id INTEGER PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        slurm_id TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        template TEXT,
        params TEXT NOT NULL DEFAULT '{}',
        script TEXT NOT NULL,
        state TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        node_list TEXT NOT NULL DEFAULT '',
        submitted_at TEXT NOT NULL,
        started_at TEXT,
        ended_at TEXT,
        time_used TEXT,
        time_left TEXT,
        exit_code TEXT,
        stdout_path TEXT,
        stderr_path TEXT,
        finished INTEGER NOT NULL DEFAULT 0
      );
      CREATE INDEX jobs_user ON jobs(user_id, id);
      CREATE INDEX jobs_active ON jobs(finished) WHERE finished = 0;
    `,
  },
  {
    // Teaching staff: preloads, environment catalogue, warm starts (issue 13).
    version: 5,
    name: 'teaching-staff',
    sql: `
      -- Images asked to be on every Swarm node (issue 13); per-node progress lives in memory.
      CREATE TABLE image_preloads (
        image TEXT PRIMARY KEY,
        continuous INTEGER NOT NULL DEFAULT 0,
        requested_by TEXT NOT NULL,
        created TEXT NOT NULL
      );
      -- The environment catalogue: what a group or user may start, optionally only in a window.
      CREATE TABLE environments (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        description TEXT NOT NULL DEFAULT '',
        image TEXT NOT NULL,
        cpu REAL,
        memory TEXT,
        mounts TEXT NOT NULL DEFAULT '[]',
        groups TEXT NOT NULL DEFAULT '[]',
        users TEXT NOT NULL DEFAULT '[]',
        starts_at TEXT,
        ends_at TEXT,
        created_by TEXT NOT NULL,
        updated TEXT NOT NULL
      );
      -- Warm starts: servers for a whole group started at a set time before class.
      CREATE TABLE warm_starts (
        id INTEGER PRIMARY KEY,
        group_name TEXT NOT NULL,
        at TEXT NOT NULL,
        environment TEXT,
        created_by TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'scheduled',
        started TEXT NOT NULL DEFAULT '[]',
        note TEXT NOT NULL DEFAULT ''
      );
    `,
  },
  {
    // Slurm job arrays in the portal (issue 14, src/hub/jobs/array.ts).
    version: 6,
    name: 'portal-job-arrays',
    sql: `
      -- An array is one row: its --array spec, and each task's last known state as JSON
      -- ({"0": {"state": "COMPLETED", "exit": "0:0"}, …}); NULL / '{}' for a plain job.
      ALTER TABLE jobs ADD COLUMN array_spec TEXT;
      ALTER TABLE jobs ADD COLUMN tasks TEXT NOT NULL DEFAULT '{}';
    `,
  },
  {
    // Preloads resume after a hub restart (issue 13, leftovers): per-node status is stored.
    version: 7,
    name: 'preload-resume',
    sql: `
      ALTER TABLE image_preloads ADD COLUMN finished TEXT;
      ALTER TABLE image_preloads ADD COLUMN resumed TEXT;
      CREATE TABLE image_preload_nodes (
        image TEXT NOT NULL,
        node TEXT NOT NULL,
        hostname TEXT NOT NULL,
        status TEXT NOT NULL,
        message TEXT NOT NULL DEFAULT '',
        bytes_done INTEGER NOT NULL DEFAULT 0,
        bytes_total INTEGER NOT NULL DEFAULT 0,
        updated TEXT NOT NULL,
        PRIMARY KEY (image, node)
      );
    `,
  },
  {
    // An environment's own Swarm placement constraints (issue 15, decision 0027), JSON list.
    version: 8,
    name: 'environment-constraints',
    sql: `ALTER TABLE environments ADD COLUMN constraints TEXT NOT NULL DEFAULT '[]';`,
  },
];
