export { MessageSecurity } from './policy.js';
export { DestinationSecurity } from './seal.js';
export { ATTRIBUTES as SECURITY_ATTRIBUTES } from './attributes.js';
export { checkSecurity } from './checks.js';
