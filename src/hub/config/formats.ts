/**
 * The string formats the config schema uses (only "uri", for hub.publicUrl and services[].url).
 * One module for both ways the validator exists: compiled at start (validate.ts) and generated at
 * build time (validator-build.ts), whose code imports this file by name.
 */
export const configFormats = {
  uri: (s: string): boolean => /^[a-z][a-z0-9+.-]*:\/\/[^\s]+$/i.test(s) && URL.canParse(s),
};
