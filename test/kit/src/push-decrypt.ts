import { createDecipheriv, type ECDH, hkdfSync } from "node:crypto";

/** Why an `aes128gcm` push body could not be decrypted (the push service answers 400 with it). */
export class PushDecryptError extends Error {
  override readonly name = "PushDecryptError";
}

const TAG_LENGTH = 16;
const KEY_LENGTH = 65; // uncompressed P-256 point: 0x04 || x || y

/**
 * Decrypts a Web Push message body (`Content-Encoding: aes128gcm`) with the
 * user agent's keys, the way a browser does:
 *
 * - RFC 8188 §2.1 header: salt (16) | rs (uint32) | idlen (1) | keyid (idlen);
 *   RFC 8291 §4 puts the application server's ECDH public key (65 bytes) in keyid.
 * - RFC 8291 §3.3–3.4: ecdh_secret = ECDH(ua_private, as_public);
 *   IKM = HKDF(salt = auth_secret, ikm = ecdh_secret,
 *              info = "WebPush: info" 0x00 ua_public as_public, L = 32).
 * - RFC 8188 §2.2–2.3: CEK = HKDF(salt, IKM, "Content-Encoding: aes128gcm" 0x00, 16),
 *   NONCE = HKDF(salt, IKM, "Content-Encoding: nonce" 0x00, 12), XORed with the record's sequence number.
 * - Each record is AES-128-GCM ciphertext + 16-byte tag; its plaintext is
 *   data | delimiter (0x01, or 0x02 in the last record) | zero padding.
 *
 * @param uaKeys the subscription's ECDH key pair (private key set)
 * @param authSecret the subscription's 16-byte auth secret
 */
export function decryptPushPayload(body: Buffer, uaKeys: ECDH, authSecret: Buffer): Buffer {
  if (body.length < 21) throw new PushDecryptError(`body of ${body.length} bytes is shorter than the aes128gcm header`);
  const salt = body.subarray(0, 16);
  const rs = body.readUInt32BE(16);
  const idlen = body[20] ?? 0;
  if (rs < 18) throw new PushDecryptError(`record size ${rs} is below the minimum of 18`);
  if (idlen !== KEY_LENGTH)
    throw new PushDecryptError(`keyid is ${idlen} bytes; RFC 8291 needs the 65-byte sender public key`);
  const headerLength = 21 + idlen;
  if (body.length < headerLength + TAG_LENGTH + 1) throw new PushDecryptError("body ends before the first record");
  const asPublic = body.subarray(21, headerLength);
  const uaPublic = uaKeys.getPublicKey();

  let ecdhSecret: Buffer;
  try {
    ecdhSecret = uaKeys.computeSecret(asPublic);
  } catch (cause) {
    throw new PushDecryptError("the sender public key in keyid is not a valid P-256 point", { cause });
  }
  const keyInfo = Buffer.concat([Buffer.from("WebPush: info\0"), uaPublic, asPublic]);
  const ikm = Buffer.from(hkdfSync("sha256", ecdhSecret, authSecret, keyInfo, 32));
  const cek = Buffer.from(hkdfSync("sha256", ikm, salt, Buffer.from("Content-Encoding: aes128gcm\0"), 16));
  const baseNonce = Buffer.from(hkdfSync("sha256", ikm, salt, Buffer.from("Content-Encoding: nonce\0"), 12));

  const records = body.subarray(headerLength);
  const out: Buffer[] = [];
  let seq = 0;
  for (let offset = 0; offset < records.length; offset += rs, seq++) {
    const record = records.subarray(offset, offset + rs);
    const last = offset + rs >= records.length;
    if (record.length <= TAG_LENGTH) throw new PushDecryptError(`record ${seq} is too short`);
    const decipher = createDecipheriv("aes-128-gcm", cek, recordNonce(baseNonce, seq));
    decipher.setAuthTag(record.subarray(record.length - TAG_LENGTH));
    let plain: Buffer;
    try {
      plain = Buffer.concat([decipher.update(record.subarray(0, record.length - TAG_LENGTH)), decipher.final()]);
    } catch (cause) {
      throw new PushDecryptError(`record ${seq} failed authentication (wrong keys or tampered body)`, { cause });
    }
    out.push(unpad(plain, last, seq));
  }
  return Buffer.concat(out);
}

/** NONCE XOR seq, seq as a 96-bit big-endian integer (RFC 8188 §2.3). */
function recordNonce(base: Buffer, seq: number): Buffer {
  const nonce = Buffer.from(base);
  nonce.writeUInt32BE((nonce.readUInt32BE(8) ^ seq) >>> 0, 8);
  return nonce;
}

/** Strips the zero padding and checks the delimiter (RFC 8188 §2). */
function unpad(plain: Buffer, last: boolean, seq: number): Buffer {
  let end = plain.length - 1;
  while (end >= 0 && plain[end] === 0) end--;
  const delimiter = plain[end];
  if (delimiter !== (last ? 2 : 1)) {
    throw new PushDecryptError(`record ${seq} has delimiter ${delimiter ?? "none"}; expected ${last ? 2 : 1}`);
  }
  return plain.subarray(0, end);
}
