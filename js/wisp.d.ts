// wisp.d.ts — TypeScript declarations for js/wisp.js.

export type WispErrorCode =
  | 'IO' | 'FORMAT' | 'UNSUPPORTED' | 'OOM' | 'ABORTED' | 'INVALID_ARG' | 'NEED_MORE' | 'CONTEXT_FULL'
  | 'NETWORK' | 'CHANGED' | 'INTEGRITY' | 'TRAP' | 'UNLOADED' | 'INTERNAL';

export declare class WispError extends Error {
  /** 'WispError', or 'AbortError' for aborts (code 'ABORTED'). */
  name: 'WispError' | 'AbortError';
  code: WispErrorCode;
  /** HTTP status for NETWORK errors caused by an HTTP response. */
  status?: number;
}

export interface LoadProgress {
  loaded: number;
  total: number | null;
  bytesPerSec: number;
  etaSec: number | null;
  /** 'header' | 'download' | 'cache' (reading a cached copy) | 'verify' (sha256) | 'init' | 'cache-store' */
  phase: string;
}

export interface LoadOptions {
  /** Threads for the mt variant; min(hardwareConcurrency, threads). Default: hardwareConcurrency. */
  threads?: number;
  /** 'auto' (default): mt when crossOriginIsolated && SharedArrayBuffer (always in Node), else st. */
  variant?: 'auto' | 'mt' | 'st';
  /** 'auto' (default): the relaxed-SIMD build where the engine validates relaxed SIMD (faster
   * int8 dots for Q4/Q5 weights, same results), else plain SIMD128. 'relaxed' fails with
   * UNSUPPORTED where it is missing; 'base' always takes plain SIMD128. */
  simd?: 'auto' | 'relaxed' | 'base';
  /** KV cache size in tokens. Default: min(trained context, 4096). */
  contextSize?: number;
  /** Use the Cache Storage API for URL sources (browsers; no-op in Node). Default true. */
  cache?: boolean;
  /** Expected sha256 (hex) of the whole file; mismatch -> INTEGRITY error. */
  sha256?: string;
  signal?: AbortSignal;
  onProgress?: (p: LoadProgress) => void;
  /** Called once the header is parsed, before the weights download: the model facts known by then
   * (ModelInfo without the load results, plus kvBytes). */
  onInfo?: (info: Partial<ModelInfo> & { kvBytes: number }) => void;
  onLog?: (m: { level: string; message: string }) => void;
  /** Where wisp-{mt,st}.{mjs,wasm} live. Default: new URL('./dist/', import.meta.url). */
  distUrl?: string;
  /** Range request size for tensor data (default 8 MiB) and requests in flight (default 4). */
  chunkSize?: number;
  concurrency?: number;
  /** Retries per stalled request (default 5) and the first backoff delay (default 500 ms). */
  retries?: number;
  retryDelayMs?: number;
  /** First header request size (default 256 KiB); grown until the header parses. */
  headerBytes?: number;
  /** Cap on the wasm memory in bytes (mt variant only; at least 32 MiB). Allocations past it
   * fail cleanly with an OOM WispError. Default: 4 GiB (wasm32's limit). */
  maxMemory?: number;
}

export interface ModelInfo {
  arch: string; name: string; tokenizer: string; pre: string;
  nParams: number; weightBytes: number; fileBytes: number;
  nVocab: number; nCtxTrain: number; contextSize: number;
  nEmbd: number; nLayer: number; nHead: number; nHeadKv: number; headDim: number; nFf: number;
  nTensors: number;
  /** tensor count per GGML type name, e.g. {F32: 48} */
  quantTypes: Record<string, number>;
  bos: number; eos: number; eot: number; addBos: boolean; vocabOnly: boolean;
  chatTemplate: string | null;
  variant: 'mt' | 'st';
  variantReason: string;
  /** the build running: 'relaxed' (relaxed-SIMD int8 dot) or 'base' (SIMD128 only) */
  simd: 'relaxed' | 'base';
  threads: number;
  source: string;
  /** 'range' | 'sequential' (server ignored Range) | 'blob' | 'cache' */
  loadMode: string;
  /** 'off' | 'hit' | 'stored' | 'store failed: ...' */
  cache: string;
  sha256: string | null;
  loadMs: number; downloadMs: number; wasmMemoryBytes: number;
}

export interface GenerateOptions {
  maxTokens?: number;        // default 256
  temperature?: number;      // default 0.8; 0 greedy; must be >= 0 (negative -> INVALID_ARG)
  topK?: number;             // default 40; <= 0 off
  topP?: number;             // default 0.95; (0, 1]
  minP?: number;             // default 0.05
  repeatPenalty?: number;    // default 1.0 (off)
  repeatLastN?: number;      // default 64; integer in [0, 2^20], 0 = no window (negative -> INVALID_ARG)
  seed?: number;
  stop?: string | string[];
  ignoreEos?: boolean;
  /** Prepend BOS when the vocabulary asks for it (string prompts). Default true. */
  addBos?: boolean;
  /** Text spelling a special token becomes that token. Default false. */
  parseSpecial?: boolean;
  signal?: AbortSignal;
}

export interface GenerateStats {
  promptTokens: number;
  /** prompt tokens actually evaluated (the KV cache prefix shared with the previous call is reused) */
  prefilledTokens: number;
  generatedTokens: number;
  prefillTokPerSec: number | null;
  decodeTokPerSec: number | null;
  ttftMs: number | null;
  totalMs: number;
  stopReason: 'length' | 'eos' | 'stop' | 'context';
}

export type GenerateEvent =
  | { token: number; text: string; done?: undefined }
  | { done: true; text: string; stats: GenerateStats };

export interface ChatMessage { role: 'system' | 'user' | 'assistant'; content: string; }

export interface ChatOptions extends GenerateOptions {
  /** Append the assistant header (default true). */
  addGenerationPrompt?: boolean;
  /** More template variables (enable_thinking, tools, date_string, ...). */
  templateVars?: Record<string, unknown>;
  /** Clock for strftime_now (default: now). */
  now?: Date | (() => Date);
  /** Use this Jinja template instead of the model's tokenizer.chat_template. */
  chatTemplate?: string;
  /** Called when older turns were dropped to fit the context (the total dropped so far). */
  onContextTrim?: (e: { droppedMessages: number }) => void;
}

export interface ChatStats extends GenerateStats {
  /** Messages dropped from the front (system messages are kept) to fit the context. */
  droppedMessages: number;
  /** How many times the prompt had to be trimmed and prefilled again. */
  contextTrims: number;
  /** 'model' (tokenizer.chat_template), 'custom', or the built-in fallback used: 'chatml' | 'llama3'. */
  template: string;
}

export interface WispModel {
  readonly info: ModelInfo;
  /** Chat with OpenAI-shaped messages rendered by the model's chat template (Jinja). Template text
   * is tokenized with parse_special, message content without it. Streams the same events as
   * generate(); the done event's stats are ChatStats. The KV cache is reused between turns. */
  chat(messages: ChatMessage[], options?: ChatOptions): AsyncGenerator<GenerateEvent, void, undefined>;
  /** The prompt chat() would use: rendered text, token ids, template kind, stop strings. */
  chatPrompt(messages: ChatMessage[], options?: Omit<ChatOptions, keyof GenerateOptions>): Promise<{ text: string; ids: number[]; template: string; stop: string[] }>;
  generate(prompt: string | number[], options?: GenerateOptions): AsyncGenerator<GenerateEvent, void, undefined>;
  tokenize(text: string, options?: { addBos?: boolean; parseSpecial?: boolean }): Promise<number[]>;
  detokenize(ids: ArrayLike<number>, options?: { special?: boolean }): Promise<string>;
  unload(): Promise<void>;
}

export interface CacheEntry {
  url: string; size: number; etag: string; lastModified: string; sha256: string; storedAt: string;
  /** bytes actually stored (-1 if unreadable) */
  bodySize: number;
  /** true only for a whole, valid entry (metadata complete and bodySize === size): what a load uses */
  complete: boolean;
}

export declare const Wisp: {
  load(source: string | URL | Blob | File, options?: LoadOptions): Promise<WispModel>;
  cache: {
    list(): Promise<CacheEntry[]>;
    delete(url: string): Promise<boolean>;
  };
  WispError: typeof WispError;
};
export default Wisp;
