// Type declarations of the `mblip` package (mBLIP / BLIP-2 captioning and VQA in WebAssembly).

/** Where a model comes from: a URL (fetched, cached in the browser), a File/Blob, bytes, or a file path (Node). */
export type ModelSource = string | URL | Blob | ArrayBuffer | ArrayBufferView;

/**
 * An image: encoded bytes (Blob/File, ArrayBuffer/Uint8Array, a URL, a file path in Node) are decoded by
 * the core's decoder (JPEG/PNG/BMP/GIF, EXIF orientation applied); decoded pixels (ImageData, ImageBitmap,
 * <img>, canvas, OffscreenCanvas, or {data, width, height} with RGBA or RGB bytes) are used as given.
 */
export type ImageInput =
  | string | URL | Blob | ArrayBuffer | ArrayBufferView
  | ImageData | ImageBitmap | HTMLImageElement | HTMLCanvasElement | OffscreenCanvas
  | { data: Uint8Array | Uint8ClampedArray | ArrayLike<number>; width: number; height: number };

export interface LoadProgress {
  /** Bytes read so far. */
  loaded: number;
  /** Total bytes, or null when the server sent no Content-Length. */
  total: number | null;
  /** True when the bytes come from the browser's Cache API (or, with fromStorage, the packed-weights cache). */
  cached: boolean;
  /**
   * 'prepare' with fromStorage: stored packed weights are read into the wasm heap (first, when there are any);
   * 'download' while the model file's bytes stream into the wasm heap (and are packed, unless stored packed weights
   * fit); 'prepare' (without fromStorage) while the core finishes the model; 'ready' once, at the end.
   */
  phase: 'download' | 'prepare' | 'ready';
  /** True for the events of reading stored packed weights (loaded / total are their bytes). */
  fromStorage?: boolean;
}

/** The packed-weights cache of one load (MBlip.cache.packed). */
export interface PackedCacheInfo {
  /** True when the packed weights came from storage (nothing was packed). */
  hit: boolean;
  /** True when this load packed and stored its packed weights for the next load. */
  stored: boolean;
  /** Size of the stored packed weights (0 when none). */
  bytes: number;
  /** Why stored packed weights were refused (corrupt, truncated, another model or build), else ''. */
  rejected: string;
  /** 'opfs' (browser: Origin Private File System) or 'file' (Node: the cache folder). */
  where: 'opfs' | 'file';
}

/**
 * The wasm builds: relaxed SIMD (engines that validate its instructions, e.g. current Chrome; Node >= 22)
 * or SIMD128 (every other engine), each with pthreads (cross-origin isolated pages, Node) or single-threaded.
 */
export type BuildName = 'relaxed-simd-threads' | 'relaxed-simd' | 'simd128-threads' | 'simd128';

export interface LoadOptions {
  onProgress?: (p: LoadProgress) => void;
  /** Worker threads. >1 needs cross-origin isolation in browsers (else the single-threaded build is used, with a warning). Default: hardwareConcurrency (max 8; 2 in Node). 1 selects the single-threaded build. */
  threads?: number;
  /** Store / reuse URL downloads in the browser Cache API (default true). */
  cache?: boolean;
  /**
   * Store the packed weights after the first load and read them on later loads instead of packing (default true):
   * browsers use the Origin Private File System, Node a file in `cacheDir`. Not for in-memory sources (ArrayBuffer).
   */
  packedCache?: boolean;
  /** Node: the packed-weights cache folder (default $MBLIP_CACHE_DIR, else $XDG_CACHE_HOME/mblip/packed, else ~/.cache/mblip/packed). */
  cacheDir?: string;
  /** Advanced: URL of another Emscripten module factory (e.g. dist/ on a CDN). */
  moduleUrl?: string;
  /**
   * Which wasm build to run (default 'auto': relaxed SIMD when the engine validates it, threads when
   * `threads` > 1 and allowed). A forced build the engine cannot run rejects with an MBlipError of code
   * 'Unsupported'; an unknown name with an InvalidArgumentError.
   */
  build?: 'auto' | BuildName;
}

export interface TokenEvent {
  /** Tokens generated so far (1-based). */
  step: number;
  /** The newest token id. */
  token: number;
  /** Text added by this token ('' for provisional beam-search events). */
  delta: string;
  /** Decoded text so far (of the best running beam in beam search). */
  text: string;
  /** True in beam search: the best beam may still be replaced. */
  provisional: boolean;
}

export interface GenerateOptions {
  /** Prompt used verbatim (default: mBLIP's "Caption in {Language}:" / "Question: {q} Short answer in {Language}:"). */
  prompt?: string;
  /** Language code or English name from model.languages (default 'en'). */
  lang?: string;
  numBeams?: number;
  maxNewTokens?: number;
  minNewTokens?: number;
  lengthPenalty?: number;
  earlyStopping?: boolean | 'never';
  doSample?: boolean;
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
  repetitionPenalty?: number;
  noRepeatNgramSize?: number;
  numReturnSequences?: number;
  /** Streams each generated token (called on the calling thread). */
  onToken?: (e: TokenEvent) => void;
  /** Aborts a queued or running call; the promise rejects with AbortError. */
  signal?: AbortSignal;
}
export type CaptionOptions = GenerateOptions;

export interface GenerateResult {
  text: string;
  /** Generated ids without the decoder-start token; eos (1) included when produced. */
  tokens: number[];
  /** Beam search: HF's sequences_scores; otherwise the sum of log-probabilities. */
  score?: number;
  /** Milliseconds per stage ("decode", "preprocess", "vision+qformer", "encoder", "decoder", ..., "total"). */
  timings: Record<string, number>;
  prompt: string;
  promptTokens: number[];
  lang: string;
  sequences: { text: string; tokens: number[]; score: number }[];
}

export interface Language { code: string; name: string }

export interface ModelInfo {
  /** The wasm build that runs this model. */
  build: BuildName;
  architecture: string; name: string; textModelType: string;
  /** A synthetic / randomly initialised model: its outputs are meaningless. */
  randomWeights: boolean;
  imageSize: number; numQueryTokens: number; visionHidden: number; visionLayers: number;
  qformerHidden: number; qformerLayers: number; dModel: number; encoderLayers: number;
  decoderLayers: number; vocabSize: number; maxPromptTokens: number; weightBytes: number;
  languages: Language[];
}

export declare class MBlip {
  /** Loads a GGUF model (written by mblip-convert) into a new worker. */
  static load(source: ModelSource, options?: LoadOptions): Promise<MBlip>;
  /** Set by load(); null while the worker restarts after an abort, until the model is loaded again. */
  readonly info: ModelInfo | null;
  /** The 96 languages of mBLIP. */
  readonly languages: Language[];
  /** Whether the URL download came from / went into the Cache API, and the packed-weights cache (null when not used). */
  readonly cache: { hit: boolean; stored: boolean; packed: PackedCacheInfo | null } | null;
  /** Milliseconds the worker spent loading (stored packed weights, download, build). */
  readonly loadMs: number;
  /** Where the load time went (ms): storage = reading stored packed weights, download = streaming + building, finish, store = writing packed weights. */
  readonly loadTimings: { storage: number; download: number; finish: number; store: number } | null;
  /** Heap use after loading: the wasm heap's size and the most raw model bytes the loader held at once. */
  readonly memory: { heapBytes: number; streamPeakBufferedBytes: number };
  /** True when the pthreads build runs. */
  readonly threaded: boolean;
  /** The wasm build in use (same as info.build). */
  readonly build: BuildName;
  readonly threads: number;
  readonly version: string;
  caption(image: ImageInput, options?: CaptionOptions): Promise<GenerateResult>;
  ask(image: ImageInput, question: string, options?: CaptionOptions): Promise<GenerateResult>;
  /** Terminates the worker and frees the model; pending calls reject. */
  dispose(): void;
}
export default MBlip;

/** The builds and what they need. */
export declare const BUILDS: Readonly<Record<BuildName, { file: string; relaxed: boolean; threads: boolean }>>;
/** Whether this engine can run the relaxed-SIMD builds (validates the probe module; never on Node < 22). */
export declare function relaxedSimdSupport(): { ok: boolean; reason: string };

/**
 * Deletes what MBlip.load() stored: downloaded model files (browser Cache API) and packed weights (OPFS in
 * browsers; in Node the package's web-*.mbpack files in `cacheDir`). True when anything was removed.
 */
export declare function clearModelCache(options?: { cacheDir?: string }): Promise<boolean>;

export declare class MBlipError extends Error {
  /** Core status code name: InvalidArgument, ModelLoad, ImageDecode, Tokenizer, Io, OutOfMemory, Cancelled, Unsupported, Internal. */
  readonly code: string;
  constructor(message: string, code?: string);
}
export declare class ModelLoadError extends MBlipError {}
export declare class ImageDecodeError extends MBlipError {}
export declare class InvalidArgumentError extends MBlipError {}
export declare class TokenizerError extends MBlipError {}
export declare class AbortError extends MBlipError { readonly name: 'AbortError' }
