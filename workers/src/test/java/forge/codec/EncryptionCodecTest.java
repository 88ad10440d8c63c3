package forge.codec;

import com.google.protobuf.ByteString;
import forge.worker.TemporalConnection;
import forge.worker.WorkerSettings;
import io.temporal.api.common.v1.Payload;
import io.temporal.api.failure.v1.Failure;
import io.temporal.common.converter.DataConverter;
import io.temporal.common.converter.DefaultDataConverter;
import io.temporal.common.converter.EncodingKeys;
import io.temporal.failure.ApplicationFailure;
import io.temporal.payload.codec.PayloadCodecException;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class EncryptionCodecTest {
    static final byte[] KEY_A = key(1);
    static final byte[] KEY_B = key(2);
    private static final DataConverter JSON = DefaultDataConverter.newDefaultInstance();

    static byte[] key(int seed) {
        byte[] k = new byte[32];
        Arrays.fill(k, (byte) seed);
        k[31] = (byte) (seed * 7);
        return k;
    }

    private static Payload json(Object value) {
        return JSON.toPayload(value).orElseThrow();
    }

    private static String text(Payload p) {
        return p.getData().toStringUtf8();
    }

    @Test
    void roundTripHidesDataAndOriginalEncodingAndRecordsTheKeyId() {
        EncryptionCodec codec = new EncryptionCodec(CodecKeys.of("k-2026", KEY_A));
        Payload plain = json(Map.of("stage", "pretrain", "path", "demo:pretrain?seed=3"));
        Payload sealed = codec.encode(List.of(plain)).get(0);

        assertTrue(EncryptionCodec.isEncrypted(sealed));
        assertEquals("k-2026", sealed.getMetadataOrThrow(EncryptionCodec.METADATA_KEY_ID).toStringUtf8());
        assertEquals(2, sealed.getMetadataCount(), "only the encoding and the key id are left in clear text");
        assertFalse(sealed.toByteString().toStringUtf8().contains("pretrain"));
        assertFalse(sealed.toByteString().toStringUtf8().contains("json/plain"));
        assertEquals(plain, codec.decode(List.of(sealed)).get(0));
    }

    @Test
    void everyEncryptionUsesAFreshNonce() {
        EncryptionCodec codec = new EncryptionCodec(CodecKeys.of("k", KEY_A));
        Payload plain = json("same value");
        Payload first = codec.encode(List.of(plain)).get(0);
        Payload second = codec.encode(List.of(plain)).get(0);
        assertNotEquals(first.getData(), second.getData());
        assertNotEquals(first.getData().substring(0, 12), second.getData().substring(0, 12));
    }

    @Test
    void aTamperedPayloadFailsWithAClearMessage() {
        EncryptionCodec codec = new EncryptionCodec(CodecKeys.of("k", KEY_A));
        Payload sealed = codec.encode(List.of(json("attack at dawn"))).get(0);
        byte[] data = sealed.getData().toByteArray();
        data[data.length / 2] ^= 1;
        Payload tampered = sealed.toBuilder().setData(ByteString.copyFrom(data)).build();
        PayloadCodecException e = assertThrows(PayloadCodecException.class, () -> codec.decode(List.of(tampered)));
        assertTrue(e.getMessage().contains("failed authentication") && e.getMessage().contains("altered"),
                e.getMessage());

        Payload truncated = sealed.toBuilder().setData(sealed.getData().substring(0, 10)).build();
        e = assertThrows(PayloadCodecException.class, () -> codec.decode(List.of(truncated)));
        assertTrue(e.getMessage().contains("too short"), e.getMessage());
    }

    @Test
    void theSameIdWithAnotherKeyIsCaughtByAuthenticationNotMisread() {
        Payload sealed = new EncryptionCodec(CodecKeys.of("k", KEY_A)).encode(List.of(json(42))).get(0);
        EncryptionCodec other = new EncryptionCodec(CodecKeys.of("k", KEY_B));
        PayloadCodecException e = assertThrows(PayloadCodecException.class, () -> other.decode(List.of(sealed)));
        assertTrue(e.getMessage().contains("different key under the same id"), e.getMessage());
    }

    @Test
    void anUnknownKeyIdNamesTheIdAndTheKeysAtHand() {
        Payload sealed = new EncryptionCodec(CodecKeys.of("old-key", KEY_A)).encode(List.of(json(1))).get(0);
        EncryptionCodec codec = new EncryptionCodec(CodecKeys.of("new-key", KEY_B));
        PayloadCodecException e = assertThrows(PayloadCodecException.class, () -> codec.decode(List.of(sealed)));
        assertTrue(e.getMessage().contains("'old-key'") && e.getMessage().contains("[new-key]")
                && e.getMessage().contains(CodecKeys.ENV_KEY_FILE), e.getMessage());

        Payload noId = sealed.toBuilder().removeMetadata(EncryptionCodec.METADATA_KEY_ID).build();
        e = assertThrows(PayloadCodecException.class, () -> codec.decode(List.of(noId)));
        assertTrue(e.getMessage().contains(EncryptionCodec.METADATA_KEY_ID), e.getMessage());
    }

    @Test
    void afterARotationOldPayloadsStillDecryptAndNewOnesUseTheNewKey() {
        Payload old = new EncryptionCodec(CodecKeys.of("2025", KEY_A)).encode(List.of(json("old"))).get(0);
        EncryptionCodec rotated = new EncryptionCodec(CodecKeys.of("2026", Map.of("2025", KEY_A, "2026", KEY_B)));
        assertEquals("\"old\"", text(rotated.decode(List.of(old)).get(0)));
        Payload fresh = rotated.encode(List.of(json("new"))).get(0);
        assertEquals("2026", fresh.getMetadataOrThrow(EncryptionCodec.METADATA_KEY_ID).toStringUtf8());
        assertEquals("\"new\"", text(new EncryptionCodec(CodecKeys.of("2026", KEY_B)).decode(List.of(fresh)).get(0)));
    }

    @Test
    void unencryptedPayloadsPassThroughDecoding() {
        EncryptionCodec codec = new EncryptionCodec(CodecKeys.of("k", KEY_A));
        Payload plain = json(Map.of("name", "tiny"));
        Payload raw = Payload.newBuilder().putMetadata(EncodingKeys.METADATA_ENCODING_KEY,
                ByteString.copyFromUtf8("binary/plain")).setData(ByteString.copyFromUtf8("x")).build();
        Payload bare = Payload.newBuilder().setData(ByteString.copyFromUtf8("no metadata")).build();
        List<Payload> out = codec.decode(List.of(plain, raw, bare));
        assertSame(plain, out.get(0));
        assertSame(raw, out.get(1));
        assertSame(bare, out.get(2));
    }

    @Test
    void theProductsConverterEncryptsValuesAndFailureMessages() {
        WorkerSettings s = WorkerSettings.fromEnvironment(Map.of()).withCodecKeys(CodecKeys.of("k", KEY_A));
        DataConverter converter = TemporalConnection.dataConverter(s);

        Payload p = converter.toPayload(Map.of("stage", "pretrain")).orElseThrow();
        assertTrue(EncryptionCodec.isEncrypted(p));
        assertEquals(Map.of("stage", "pretrain"), converter.fromPayload(p, Map.class, Map.class));

        Failure f = converter.exceptionToFailure(ApplicationFailure.newNonRetryableFailure(
                "train.learning_rte: unknown key", "BadInput"));
        String stored = f.toByteString().toString(StandardCharsets.ISO_8859_1);
        assertFalse(stored.contains("learning_rte"), "the failure message must be encrypted too");
        assertTrue(f.hasEncodedAttributes() && EncryptionCodec.isEncrypted(f.getEncodedAttributes()));
        ApplicationFailure back = (ApplicationFailure) converter.failureToException(f);
        assertEquals("train.learning_rte: unknown key", back.getOriginalMessage());
    }

    @Test
    void withoutKeysTheConverterIsTheSdkDefault() {
        DataConverter converter = TemporalConnection.dataConverter(WorkerSettings.fromEnvironment(Map.of()));
        Optional<Payload> p = converter.toPayload("x");
        assertFalse(EncryptionCodec.isEncrypted(p.orElseThrow()));
        Failure f = converter.exceptionToFailure(ApplicationFailure.newFailure("plain", "T"));
        assertEquals("plain", f.getMessage());
    }
}
