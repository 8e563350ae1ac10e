export { createEnvelope, causedBy, type Envelope, type EnvelopeOptions } from './envelope.js';
export { encodeBinary, decode, parseJson, type Headers, type WireMessage } from './cloudevents.js';
export { deterministicId } from './deterministic-id.js';
