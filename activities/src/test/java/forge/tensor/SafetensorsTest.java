package forge.tensor;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import forge.errors.BadInputException;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SafetensorsTest {

    private static HostTensor i64(long[] shape, long... values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
        for (long v : values) {
            b.putLong(v);
        }
        return new HostTensor("I64", shape, b.array());
    }

    private static HostTensor i32(long[] shape, int... values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (int v : values) {
            b.putInt(v);
        }
        return new HostTensor("I32", shape, b.array());
    }

    private static Map<String, HostTensor> sample() {
        Map<String, HostTensor> m = new LinkedHashMap<>();
        m.put("z.weight", HostTensor.f32(new long[] {2, 3}, new float[] {1, 2, 3, 4, 5, -6.5f}));
        m.put("a.ids", i64(new long[] {3}, 7, -1, Long.MAX_VALUE));
        m.put("m.count", i32(new long[] {}, 42));
        m.put("empty", HostTensor.f32(new long[] {0, 4}, new float[0]));
        return m;
    }

    @Test
    void roundTripKeepsEveryTensorAndTheMetadata() {
        Map<String, HostTensor> in = sample();
        byte[] file = Safetensors.write(in, Map.of("format", "pt", "step", "12"));
        Map<String, HostTensor> out = Safetensors.read(file);
        assertEquals(in, out);
        assertEquals(Map.of("format", "pt", "step", "12"), Safetensors.readMetadata(file));
        assertArrayEquals(new float[] {1, 2, 3, 4, 5, -6.5f}, out.get("z.weight").toFloatArray());
    }

    @Test
    void headerFollowsTheSpec() throws Exception {
        byte[] file = Safetensors.write(sample(), Map.of("format", "pt"));
        long n = ByteBuffer.wrap(file, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        assertEquals(0, (8 + n) % 8, "data starts 8-byte aligned");
        String json = new String(file, 8, (int) n, StandardCharsets.UTF_8);
        assertTrue(json.startsWith("{"), json);
        JsonNode h = new ObjectMapper().readTree(json);
        assertEquals("pt", h.get("__metadata__").get("format").asText());
        JsonNode w = h.get("z.weight");
        assertEquals("F32", w.get("dtype").asText());
        assertEquals(List.of(2, 3), List.of(w.get("shape").get(0).asInt(), w.get("shape").get(1).asInt()));
        // Sorted by name: a.ids (24 bytes), empty (0), m.count (4), z.weight (24).
        assertEquals("[0,24]", h.get("a.ids").get("data_offsets").toString());
        assertEquals("[24,24]", h.get("empty").get("data_offsets").toString());
        assertEquals("[24,28]", h.get("m.count").get("data_offsets").toString());
        assertEquals("[]", h.get("m.count").get("shape").toString());
        assertEquals("[28,52]", h.get("z.weight").get("data_offsets").toString());
        assertEquals(8 + n + 52, file.length);
        float first = ByteBuffer.wrap(file, (int) (8 + n + 28), 4).order(ByteOrder.LITTLE_ENDIAN).getFloat();
        assertEquals(1f, first);
    }

    @Test
    void sameContentGivesSameBytesWhateverTheMapOrder() {
        Map<String, HostTensor> reversed = new LinkedHashMap<>();
        List<Map.Entry<String, HostTensor>> entries = List.copyOf(sample().entrySet());
        for (int i = entries.size() - 1; i >= 0; i--) {
            reversed.put(entries.get(i).getKey(), entries.get(i).getValue());
        }
        Map<String, String> meta = new HashMap<>(Map.of("b", "2", "a", "1"));
        assertArrayEquals(Safetensors.write(sample(), meta), Safetensors.write(reversed, Map.of("a", "1", "b", "2")));
    }

    @Test
    void readsAFileBuiltByHandFromTheSpec() {
        String header = "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"__metadata__\":{\"k\":\"v\"}}";
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + 8).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h).putFloat(0.5f).putFloat(-2f);
        Map<String, HostTensor> t = Safetensors.read(b.array());
        assertArrayEquals(new float[] {0.5f, -2f}, t.get("t").toFloatArray());
        assertEquals(Map.of("k", "v"), Safetensors.readMetadata(b.array()));
    }

    private static byte[] file(String header, int dataBytes) {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        return b.array();
    }

    private static String error(byte[] file) {
        return assertThrows(BadInputException.class, () -> Safetensors.read(file)).getMessage();
    }

    @Test
    void malformedInputGivesAClearError() {
        assertTrue(error(new byte[3]).contains("shorter than the 8-byte header"));
        byte[] huge = new byte[16];
        ByteBuffer.wrap(huge).order(ByteOrder.LITTLE_ENDIAN).putLong(1000);
        assertTrue(error(huge).contains("header length 1000"));
        assertTrue(error(file("{not json", 0)).contains("not valid JSON"));
        assertTrue(error(file("[1,2]", 0)).contains("not a JSON object"));
        assertTrue(error(file("{\"t\":{\"dtype\":\"Q7\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4))
                .contains("unknown dtype"));
        assertTrue(error(file("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4))
                .contains("tensor t has 4 bytes but dtype F32 shape [2] needs 8"));
        assertTrue(error(file("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4))
                .contains("past the data"));
        assertTrue(error(file("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8))
                .contains("starts at 4, expected 0"));
        assertTrue(error(file("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8))
                .contains("tensors cover 4"));
        assertTrue(error(file("{\"t\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4)).contains("data_offsets"));
        assertTrue(error(file("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                + "\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4)).contains("Duplicate"));
        byte[] ok = Safetensors.write(sample(), Map.of());
        assertTrue(error(Arrays.copyOf(ok, ok.length - 1)).contains("z.weight"));
    }

    @Test
    void hostTensorChecksSizeAndComparesByContent() {
        assertThrows(IllegalArgumentException.class, () -> new HostTensor("F32", new long[] {2}, new byte[4]));
        assertThrows(IllegalArgumentException.class, () -> new HostTensor("X", new long[] {1}, new byte[4]));
        HostTensor a = HostTensor.f32(new long[] {2}, new float[] {1, 2});
        HostTensor b = HostTensor.f32(new long[] {2}, new float[] {1, 2});
        assertEquals(a, b);
        assertEquals(a.hashCode(), b.hashCode());
        assertNotEquals(a, HostTensor.f32(new long[] {1, 2}, new float[] {1, 2}));
        assertNotEquals(a, HostTensor.f32(new long[] {2}, new float[] {1, 3}));
    }

    @Test
    void hostTensorRoundTripsThroughTheEngine() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray f = m.create(new float[] {1.5f, -2, 3, 4, 5, 6}, new Shape(2, 3));
            NDArray l = m.create(new long[] {1, 2, 3}, new Shape(3));
            NDArray i = m.create(new int[] {-4, 5}, new Shape(1, 2));
            for (NDArray a : List.of(f, l, i)) {
                HostTensor h = HostTensor.of(a);
                NDArray back = h.toNDArray(m);
                assertEquals(a.getShape(), back.getShape());
                assertEquals(a.getDataType(), back.getDataType());
                assertArrayEquals(a.toByteArray(), back.toByteArray());
            }
            assertEquals("I64", HostTensor.of(l).dtype());
            assertArrayEquals(new long[] {2, 3}, HostTensor.of(f).shape());
        }
    }
}
