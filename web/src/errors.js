// Typed errors of the mblip package. Every error carries the core's status code name (`code`,
// e.g. "ModelLoad") and message; the worker sends {name, code, message} and fromWire() rebuilds them.

/** Base class of every error thrown by the mblip package. */
export class MBlipError extends Error {
  /**
   * @param {string} message what went wrong (the core's message when it came from the core)
   * @param {string} [code] core status code name: InvalidArgument, ModelLoad, ImageDecode, Tokenizer,
   *   Io, OutOfMemory, Cancelled, Unsupported, Internal (or a JS-side code such as "Worker")
   */
  constructor(message, code = 'Internal') {
    super(message);
    this.name = 'MBlipError';
    /** @type {string} */
    this.code = code;
  }
}
/** The model could not be loaded: bad bytes, download failure, or it does not fit in 4 GB. */
export class ModelLoadError extends MBlipError {
  constructor(message, code = 'ModelLoad') { super(message, code); this.name = 'ModelLoadError'; }
}
/** The image could not be read or decoded. */
export class ImageDecodeError extends MBlipError {
  constructor(message, code = 'ImageDecode') { super(message, code); this.name = 'ImageDecodeError'; }
}
/** A bad option, language, or argument. */
export class InvalidArgumentError extends MBlipError {
  constructor(message, code = 'InvalidArgument') { super(message, code); this.name = 'InvalidArgumentError'; }
}
/** The tokenizer rejected a text or the model's tokenizer is broken. */
export class TokenizerError extends MBlipError {
  constructor(message, code = 'Tokenizer') { super(message, code); this.name = 'TokenizerError'; }
}
/** The call was aborted through its AbortSignal (name 'AbortError', like DOMException's). */
export class AbortError extends MBlipError {
  constructor(message = 'The operation was aborted', code = 'Cancelled') { super(message, code); this.name = 'AbortError'; }
}

const BY_NAME = { MBlipError, ModelLoadError, ImageDecodeError, InvalidArgumentError, TokenizerError, AbortError };

/**
 * Maps a core status code to the error class (`stage` = 'load' turns I/O and memory errors into
 * ModelLoadError).
 * @param {string} code
 * @param {'load'|'run'} [stage]
 */
export function classForCode(code, stage = 'run') {
  switch (code) {
    case 'ModelLoad': return ModelLoadError;
    case 'ImageDecode': return ImageDecodeError;
    case 'InvalidArgument': return InvalidArgumentError;
    case 'Tokenizer': return TokenizerError;
    case 'Cancelled': return AbortError;
    case 'Io': case 'OutOfMemory': case 'Unsupported':
      return stage === 'load' ? ModelLoadError : MBlipError;
    default: return MBlipError;
  }
}

/** Serialises an error for postMessage. */
export function toWire(err) {
  if (err instanceof MBlipError) return { name: err.name, code: err.code, message: err.message };
  const message = err && err.message ? err.message : String(err);
  return { name: 'MBlipError', code: 'Internal', message };
}

/** Rebuilds a typed error from its wire form. */
export function fromWire(w) {
  const Cls = BY_NAME[w && w.name] || MBlipError;
  return new Cls(w && w.message ? w.message : 'unknown error', w && w.code ? w.code : undefined);
}
