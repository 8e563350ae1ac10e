export { MessageSecurity, DEFAULT_MAX_AGE_MS, type KeyProvider, type ProvidedKeys, type SecuritySpec } from './policy.js';
export { DestinationSecurity, CLOCK_SKEW_MS, type DestinationPolicy, type SignatureAlgorithm } from './seal.js';
export { ATTRIBUTES as SECURITY_ATTRIBUTES } from './attributes.js';
export { checkSecurity } from './checks.js';
