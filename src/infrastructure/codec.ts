import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Payload, PayloadCodec } from '@temporalio/common';
import proto from '@temporalio/proto';

export const ENCRYPTED_ENCODING = 'binary/encrypted';
const KEY_ID_HEADER = 'encryption-key-id';
const CIPHER_HEADER = 'encryption-cipher';
const CIPHER = 'AES256GCM';
// CommonJS package: Node's ESM loader cannot see its named exports.
const { Payload: PayloadProto } = proto.temporal.api.common.v1;
const IV_BYTES = 12;
const STRICT_BASE64_32_BYTES = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;
const TAG_BYTES = 16;
const utf8 = (s: string) => new TextEncoder().encode(s);
const fromUtf8 = (b: Uint8Array | null | undefined) => (b ? new TextDecoder().decode(b) : undefined);

export interface EncryptionKeys {
  /** Encrypts new payloads; its id travels in each payload's header. */
  activeKeyId: string;
  /** Every key that may still be needed to decrypt history (the active one and retired ones). */
  keys: ReadonlyMap<string, Buffer>;
}

/**
 * `id:base64key,id:base64key`: the first key encrypts, all of them decrypt, so a key can be
 * rotated by putting the new one first and keeping the old one until its histories are gone.
 */
export function parseEncryptionKeys(spec: string): EncryptionKeys {
  const keys = new Map<string, Buffer>();
  let activeKeyId: string | undefined;
  for (const [i, entry] of spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .entries()) {
    const sep = entry.indexOf(':');
    const id = sep > 0 ? entry.slice(0, sep) : '';
    if (!/^[\w.-]{1,64}$/.test(id))
      throw new Error(`key ${i + 1}: expected <id>:<base64 key> with an id of letters, digits, . _ -`);
    // Buffer.from skips characters that are not base64, so junk would pass unseen: check the text.
    const text = entry.slice(sep + 1);
    if (!STRICT_BASE64_32_BYTES.test(text))
      throw new Error(`key "${id}": must be exactly 32 bytes in standard base64 (44 characters ending in =)`);
    const key = Buffer.from(text, 'base64');
    if (keys.has(id)) throw new Error(`key "${id}": listed twice`);
    keys.set(id, key);
    activeKeyId ??= id;
  }
  if (!activeKeyId) throw new Error('no keys given');
  return { activeKeyId, keys };
}

/** A payload this process cannot decrypt: its key is not configured, or the key or data is wrong. */
export class PayloadKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PayloadKeyError';
  }
}

/** AES-256-GCM over the whole serialised payload, so metadata (its encoding) is hidden too. */
export class EncryptionCodec implements PayloadCodec {
  /** `requireEncryption`: a payload that is not ours is an error, not plaintext to pass through. */
  constructor(
    private readonly keys: EncryptionKeys,
    private readonly opts: { requireEncryption?: boolean } = {},
  ) {}

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const key = this.keys.keys.get(this.keys.activeKeyId)!;
    return payloads.map((payload) => {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const plain = PayloadProto.encode(payload).finish();
      const data = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
      return {
        metadata: {
          encoding: utf8(ENCRYPTED_ENCODING),
          [KEY_ID_HEADER]: utf8(this.keys.activeKeyId),
          [CIPHER_HEADER]: utf8(CIPHER),
        },
        data: new Uint8Array(data),
      };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      if (fromUtf8(payload.metadata?.encoding) !== ENCRYPTED_ENCODING) {
        if (this.opts.requireEncryption) throw new PlaintextPayloadRefused();
        return payload;
      }
      const keyId = fromUtf8(payload.metadata?.[KEY_ID_HEADER]);
      const key = keyId === undefined ? undefined : this.keys.keys.get(keyId);
      if (!key) throw new PayloadKeyError(`payload was encrypted with key "${keyId}", which is not configured`);
      const data = Buffer.from(payload.data ?? new Uint8Array());
      if (data.length < IV_BYTES + TAG_BYTES) throw new PayloadKeyError('encrypted payload is truncated');
      const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      let plain: Buffer;
      try {
        plain = Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
      } catch {
        // GCM's authentication failed: the key under this id is not the one that encrypted.
        throw new PayloadKeyError(`payload does not decrypt with key "${keyId}"`);
      }
      return PayloadProto.decode(plain);
    });
  }
}

export class PlaintextPayloadRefused extends Error {
  constructor() {
    super(
      'refusing a payload that is not encrypted (PAYLOAD_REQUIRE_ENCRYPTION=true): whoever wrote it must encode with our codec',
    );
    this.name = 'PlaintextPayloadRefused';
  }
}

const failureConverterPath = new URL('./failure-converter.cjs', import.meta.url).pathname;

/**
 * The data converter every client and worker of one deployment must share. With encryption on,
 * failure messages and stack traces are encoded (and so encrypted) too, not only payloads.
 */
export const dataConverterFor = (config: { PAYLOAD_ENCRYPTION_KEYS?: string; PAYLOAD_REQUIRE_ENCRYPTION?: boolean }) =>
  config.PAYLOAD_ENCRYPTION_KEYS
    ? {
        payloadCodecs: [
          new EncryptionCodec(parseEncryptionKeys(config.PAYLOAD_ENCRYPTION_KEYS), {
            requireEncryption: config.PAYLOAD_REQUIRE_ENCRYPTION,
          }),
        ],
        failureConverterPath,
      }
    : undefined;
