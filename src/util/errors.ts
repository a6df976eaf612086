/**
 * Base class of every error the gateway raises on purpose. `code` is stable and
 * documented in docs/errors.md (undici/fastify pattern): tests and callers match
 * on the code, never on the message.
 */
export class GatewayError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}
