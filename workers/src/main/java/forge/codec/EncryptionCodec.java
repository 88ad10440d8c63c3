package forge.codec;

import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import io.temporal.api.common.v1.Payload;
import io.temporal.common.converter.EncodingKeys;
import io.temporal.payload.codec.PayloadCodec;
import io.temporal.payload.codec.PayloadCodecException;

import javax.crypto.AEADBadTagException;
import javax.crypto.Cipher;
import javax.crypto.SecretKey;
import javax.crypto.spec.GCMParameterSpec;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;

/**
 * AES-256-GCM over whole Temporal payloads. An encrypted payload has metadata {@code encoding: binary/encrypted}
 * and {@code encryption-key-id: <id>}, and data {@code nonce (12 bytes) || ciphertext || tag (16 bytes)} where the
 * plaintext is the original payload, metadata included (so even the original encoding is hidden). This is the
 * layout of Temporal's encryption samples in other SDKs, so their codec servers and ours read each other's payloads.
 *
 * <p>Decoding passes a payload without the encrypted encoding through untouched: histories written before
 * encryption was turned on, and input given by tools that do not encrypt ({@code temporal workflow start}), still
 * read. The key id lets a process holding several keys decrypt payloads written before a rotation.
 */
public final class EncryptionCodec implements PayloadCodec {
    public static final String ENCODING = "binary/encrypted";
    public static final String METADATA_KEY_ID = "encryption-key-id";
    private static final ByteString ENCODING_BYTES = ByteString.copyFromUtf8(ENCODING);
    private static final int NONCE_BYTES = 12;
    private static final int TAG_BITS = 128;

    private final CodecKeys keys;
    // A random 96-bit nonce per payload: NIST SP 800-38D allows 2^32 such messages per key, far beyond the payloads
    // a key sees between rotations here, and it needs no counter shared across worker processes.
    private final SecureRandom random = new SecureRandom();

    public EncryptionCodec(CodecKeys keys) {
        this.keys = keys;
    }

    public CodecKeys keys() {
        return keys;
    }

    @Override
    public List<Payload> encode(List<Payload> payloads) {
        List<Payload> out = new ArrayList<>(payloads.size());
        for (Payload p : payloads) {
            out.add(encrypt(p));
        }
        return out;
    }

    @Override
    public List<Payload> decode(List<Payload> payloads) {
        List<Payload> out = new ArrayList<>(payloads.size());
        for (Payload p : payloads) {
            out.add(isEncrypted(p) ? decrypt(p) : p);
        }
        return out;
    }

    public static boolean isEncrypted(Payload p) {
        return ENCODING_BYTES.equals(p.getMetadataMap().get(EncodingKeys.METADATA_ENCODING_KEY));
    }

    private Payload encrypt(Payload payload) {
        byte[] nonce = new byte[NONCE_BYTES];
        random.nextBytes(nonce);
        byte[] sealed;
        try {
            Cipher cipher = Cipher.getInstance("AES/GCM/NoPadding");
            cipher.init(Cipher.ENCRYPT_MODE, keys.encryptionKey(), new GCMParameterSpec(TAG_BITS, nonce));
            sealed = cipher.doFinal(payload.toByteArray());
        } catch (GeneralSecurityException e) {
            throw new PayloadCodecException("cannot encrypt a payload with key '" + keys.encryptionKeyId() + "': "
                    + e.getMessage(), e);
        }
        return Payload.newBuilder()
                .putMetadata(EncodingKeys.METADATA_ENCODING_KEY, ENCODING_BYTES)
                .putMetadata(METADATA_KEY_ID, ByteString.copyFromUtf8(keys.encryptionKeyId()))
                .setData(ByteString.copyFrom(nonce).concat(ByteString.copyFrom(sealed)))
                .build();
    }

    private Payload decrypt(Payload payload) {
        ByteString idBytes = payload.getMetadataMap().get(METADATA_KEY_ID);
        if (idBytes == null) {
            throw new PayloadCodecException("encrypted payload carries no " + METADATA_KEY_ID + ": cannot tell which"
                    + " key to decrypt it with");
        }
        String keyId = idBytes.toStringUtf8();
        SecretKey key = keys.key(keyId).orElseThrow(() -> new PayloadCodecException("payload was encrypted with key '"
                + printable(keyId) + "', which this process does not have (it has " + keys.keyIds() + "); add that"
                + " key to " + CodecKeys.ENV_KEY_FILE + " to read it"));
        byte[] data = payload.getData().toByteArray();
        if (data.length < NONCE_BYTES + TAG_BITS / 8) {
            throw new PayloadCodecException("encrypted payload is " + data.length + " bytes, too short for a nonce and"
                    + " an authentication tag: it was truncated or altered");
        }
        byte[] plain;
        try {
            Cipher cipher = Cipher.getInstance("AES/GCM/NoPadding");
            cipher.init(Cipher.DECRYPT_MODE, key, new GCMParameterSpec(TAG_BITS, data, 0, NONCE_BYTES));
            plain = cipher.doFinal(data, NONCE_BYTES, data.length - NONCE_BYTES);
        } catch (AEADBadTagException e) {
            throw new PayloadCodecException("payload encrypted with key '" + printable(keyId) + "' failed"
                    + " authentication: it was altered, or encrypted with a different key under the same id");
        } catch (GeneralSecurityException e) {
            throw new PayloadCodecException("cannot decrypt a payload with key '" + printable(keyId) + "': "
                    + e.getMessage(), e);
        }
        try {
            return Payload.parseFrom(plain);
        } catch (InvalidProtocolBufferException e) {
            throw new PayloadCodecException("payload decrypted with key '" + printable(keyId) + "' is not a Temporal"
                    + " payload", e);
        }
    }

    /** Key ids in incoming payloads are untrusted: keep them to one short printable line in messages. */
    private static String printable(String s) {
        String cut = s.length() > 64 ? s.substring(0, 64) + "..." : s;
        return cut.replaceAll("\\p{Cntrl}", "?");
    }
}
