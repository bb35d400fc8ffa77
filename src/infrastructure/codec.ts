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
  for (const [i, entry] of spec.split(',').map((s) => s.trim()).filter(Boolean).entries()) {
    const sep = entry.indexOf(':');
    const id = sep > 0 ? entry.slice(0, sep) : '';
    if (!/^[\w.-]{1,64}$/.test(id)) throw new Error(`key ${i + 1}: expected <id>:<base64 key> with an id of letters, digits, . _ -`);
    const key = Buffer.from(entry.slice(sep + 1), 'base64');
    if (key.length !== 32) throw new Error(`key "${id}": must be 32 bytes, base64-encoded (got ${key.length} bytes)`);
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
  constructor(private readonly keys: EncryptionKeys) {}

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
      if (fromUtf8(payload.metadata?.encoding) !== ENCRYPTED_ENCODING) return payload;
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

/** The data converter every client and worker of one deployment must share. */
export const dataConverterFor = (keysSpec: string | undefined) =>
  keysSpec ? { payloadCodecs: [new EncryptionCodec(parseEncryptionKeys(keysSpec))] } : undefined;
