/**
 * The LDAP connection keys shared by the authenticator's and the hook's option blocks. Kept out of
 * connection.ts so that the config schema (loaded by every hub) does not pull in the LDAP client.
 */
import { Type, type Static } from '@sinclair/typebox';

/** Connection keys shared by the authenticator's and the hook's option blocks. */
export const LdapConnectionProps = {
  urls: Type.Array(Type.String({ pattern: '^ldaps?://' }), {
    minItems: 1,
    description:
      'Directory servers, tried in order until one answers (ldap://host:389 or ldaps://host:636). A server that refuses the connection, times out or fails TLS is skipped.',
  }),
  tls: Type.Union([Type.Literal('starttls'), Type.Literal('ldaps'), Type.Literal('insecure')], {
    default: 'starttls',
    description:
      'starttls: ldap:// URLs upgraded with StartTLS before any bind. ldaps: ldaps:// URLs (TLS from the first byte). insecure: plain ldap://, passwords in clear text — for tests only; logged as a warning.',
  }),
  caFile: Type.Optional(
    Type.String({
      description: 'PEM file with the CA certificate(s) that signed the directory\'s certificate; default: the system CAs. Certificates are always verified.',
    }),
  ),
  connectTimeoutSeconds: Type.Number({ default: 5, minimum: 0.1, description: 'Time for the TCP (and TLS) connection to one server.' }),
  operationTimeoutSeconds: Type.Number({ default: 10, minimum: 0.1, description: 'Time for each LDAP request (bind, search, modify).' }),
};

const ConnectionSchema = Type.Object(LdapConnectionProps);
export type LdapConnectionOptions = Static<typeof ConnectionSchema>;
