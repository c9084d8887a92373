import { createECDH } from "node:crypto";
import { describe, expect, test } from "vitest";
import { decryptPushPayload, PushDecryptError } from "./push-decrypt.ts";

// RFC 8291 Appendix A: the worked example (keys, auth secret and the final message body).
const uaPrivate = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94";
const uaPublic = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
const authSecret = Buffer.from("BTBZMqHH6r4Tts7J_aSIgg", "base64url");
const body = Buffer.from(
  "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN",
  "base64url",
);

function uaKeys() {
  const keys = createECDH("prime256v1");
  keys.setPrivateKey(Buffer.from(uaPrivate, "base64url"));
  return keys;
}

describe("decryptPushPayload", () => {
  test("decrypts the RFC 8291 Appendix A example", () => {
    expect(uaKeys().getPublicKey().toString("base64url")).toBe(uaPublic);
    expect(decryptPushPayload(body, uaKeys(), authSecret).toString("utf8")).toBe(
      "When I grow up, I want to be a watermelon",
    );
  });

  test("refuses a wrong auth secret, a truncated body and a keyid that is not a public key", () => {
    expect(() => decryptPushPayload(body, uaKeys(), Buffer.alloc(16))).toThrow(/failed authentication/);
    expect(() => decryptPushPayload(body.subarray(0, 20), uaKeys(), authSecret)).toThrow(PushDecryptError);
    expect(() => decryptPushPayload(body.subarray(0, 110), uaKeys(), authSecret)).toThrow(/failed authentication/);
    const shortKeyid = Buffer.from(body);
    shortKeyid[20] = 16;
    expect(() => decryptPushPayload(shortKeyid, uaKeys(), authSecret)).toThrow(/keyid is 16 bytes/);
    const notAPoint = Buffer.from(body);
    notAPoint[22] = (notAPoint[22] ?? 0) ^ 0xff;
    expect(() => decryptPushPayload(notAPoint, uaKeys(), authSecret)).toThrow(PushDecryptError);
  });
});
