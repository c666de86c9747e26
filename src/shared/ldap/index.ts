export { escapeFilterValue, escapeDnValue, fillTemplate, templatePlaceholders, TemplateError, noEscape, type Escaper } from './escape.js';
export {
  LdapConnectionProps,
  LdapConnector,
  LdapUnavailableError,
  isLdapResult,
  firstValue,
  allValues,
  sameDn,
  type LdapConnectionOptions,
} from './connection.js';
