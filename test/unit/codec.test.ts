import { randomBytes } from 'node:crypto';
import { ApplicationFailure, defaultPayloadConverter } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { loadDataConverter } from '@temporalio/common/lib/internal-non-workflow';
import {
  dataConverterFor,
  ENCRYPTED_ENCODING,
  EncryptionCodec,
  parseEncryptionKeys,
  PlaintextPayloadRefused,
} from '../../src/infrastructure/codec';

const key = () => randomBytes(32).toString('base64');
const payload = (value: unknown) => defaultPayloadConverter.toPayload(value)!;
const text = (b: Uint8Array | null | undefined) => Buffer.from(b ?? new Uint8Array()).toString('utf8');

describe('parseEncryptionKeys', () => {
  it('takes id:key pairs, the first one active', () => {
    const keys = parseEncryptionKeys(` k2:${key()} , k1:${key()}`);
    expect(keys.activeKeyId).toBe('k2');
    expect([...keys.keys.keys()]).toEqual(['k2', 'k1']);
  });
  it.each([
    ['', /no keys/],
    [`:${key()}`, /id/],
    ['k1:c2hvcnQ=', /32 bytes/],
    [`k1:${key()},k1:${key()}`, /twice/],
    [`bad id:${key()}`, /id/],
  ])('rejects %j', (spec, message) => {
    expect(() => parseEncryptionKeys(spec)).toThrow(message);
  });
});

describe('EncryptionCodec', () => {
  const secret = { userEmail: 'ada.lovelace@example.gov.uk', sessionToken: 'FwoGZXIvYXdzEJr//////////wEaDH' };

  it('round-trips, and the encoded payload holds neither the data nor its encoding in plaintext', async () => {
    const codec = new EncryptionCodec(parseEncryptionKeys(`k1:${key()}`));
    const [encoded] = await codec.encode([payload(secret)]);
    expect(text(encoded!.metadata!.encoding)).toBe(ENCRYPTED_ENCODING);
    expect(text(encoded!.metadata!['encryption-key-id'])).toBe('k1');
    expect(text(encoded!.data)).not.toContain('ada.lovelace');
    expect(text(encoded!.data)).not.toContain('json/plain');
    const [decoded] = await codec.decode([encoded!]);
    expect(defaultPayloadConverter.fromPayload(decoded!)).toEqual(secret);
  });

  it('encrypts the same value differently each time (random IV)', async () => {
    const codec = new EncryptionCodec(parseEncryptionKeys(`k1:${key()}`));
    const [a, b] = await codec.encode([payload(secret), payload(secret)]);
    expect(Buffer.from(a!.data!).equals(Buffer.from(b!.data!))).toBe(false);
  });

  it('rotates keys: the new key encrypts, the old one still decrypts old payloads', async () => {
    const k1 = key();
    const old = new EncryptionCodec(parseEncryptionKeys(`k1:${k1}`));
    const rotated = new EncryptionCodec(parseEncryptionKeys(`k2:${key()},k1:${k1}`));
    const [fromOld] = await old.encode([payload(secret)]);
    expect(defaultPayloadConverter.fromPayload((await rotated.decode([fromOld!]))[0]!)).toEqual(secret);
    const [fromNew] = await rotated.encode([payload(secret)]);
    expect(text(fromNew!.metadata!['encryption-key-id'])).toBe('k2');
    await expect(old.decode([fromNew!])).rejects.toThrow(/key "k2".*not configured/);
  });

  it('detects tampering and truncation', async () => {
    const codec = new EncryptionCodec(parseEncryptionKeys(`k1:${key()}`));
    const [encoded] = await codec.encode([payload(secret)]);
    const tampered = Buffer.from(encoded!.data!);
    tampered[20] = tampered[20]! ^ 1;
    await expect(codec.decode([{ ...encoded!, data: tampered }])).rejects.toThrow();
    await expect(codec.decode([{ ...encoded!, data: tampered.subarray(0, 10) }])).rejects.toThrow(/truncated/);
  });

  it('passes unencrypted payloads through, so histories from before encryption stay readable', async () => {
    const codec = new EncryptionCodec(parseEncryptionKeys(`k1:${key()}`));
    const plain = payload({ a: 1 });
    expect(await codec.decode([plain])).toEqual([plain]);
  });

  it('with requireEncryption, refuses a payload that is not ours instead of reading it', async () => {
    const codec = new EncryptionCodec(parseEncryptionKeys(`k1:${key()}`), { requireEncryption: true });
    await expect(codec.decode([payload({ a: 1 })])).rejects.toThrow(PlaintextPayloadRefused);
    await expect(codec.decode([{ metadata: {}, data: new Uint8Array([1]) }])).rejects.toThrow(
      /PAYLOAD_REQUIRE_ENCRYPTION/,
    );
    const [encoded] = await codec.encode([payload(secret)]);
    expect(defaultPayloadConverter.fromPayload((await codec.decode([encoded!]))[0]!)).toEqual(secret);
  });
});

describe('dataConverterFor', () => {
  it('is the default converter without keys', () => {
    expect(dataConverterFor({})).toBeUndefined();
  });

  it('with keys, moves failure messages and stack traces into an encoded (so encrypted) payload', () => {
    const converter = dataConverterFor({ PAYLOAD_ENCRYPTION_KEYS: `k1:${key()}` })!;
    const { failureConverter, payloadCodecs } = loadDataConverter(converter);
    expect(payloadCodecs).toHaveLength(1);
    const failure = failureConverter.errorToFailure(
      ApplicationFailure.nonRetryable(`Lease for ada.lovelace@example.gov.uk is gone`, 'LeaseNotFound'),
      defaultPayloadConverter,
    );
    expect(failure.message).toBe('Encoded failure');
    expect(failure.stackTrace).toBe('');
    expect(JSON.stringify(failure.message) + String(failure.stackTrace)).not.toContain('ada.lovelace');
    expect(text(failure.encodedAttributes?.data)).toContain('ada.lovelace');
  });
});
