package forge.tensor;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ShardedSafetensorsTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Twelve tensors of 64 to 704 bytes, one of 4 KiB (larger than the 1 KiB shards below), mixed dtypes. */
    static Map<String, HostTensor> state() {
        Map<String, HostTensor> t = new LinkedHashMap<>();
        Random r = new Random(7);
        for (int i = 0; i < 12; i++) {
            float[] v = new float[16 * (i + 1) % 176 + 16];
            for (int j = 0; j < v.length; j++) {
                v[j] = r.nextFloat();
            }
            t.put("h." + i + ".w", HostTensor.f32(new long[] {v.length}, v));
        }
        byte[] ids = new byte[8 * 3];
        r.nextBytes(ids);
        t.put("ids", new HostTensor("I64", new long[] {3}, ids));
        byte[] half = new byte[2 * 4 * 8];
        r.nextBytes(half);
        t.put("half", new HostTensor("BF16", new long[] {4, 8}, half));
        float[] big = new float[1024];
        t.put("wte.weight", HostTensor.f32(new long[] {32, 32}, big));
        return t;
    }

    private static Map<String, byte[]> write(ShardedSafetensors.Layout layout) throws IOException {
        Map<String, byte[]> files = new LinkedHashMap<>();
        for (ShardedSafetensors.Shard s : layout.shards()) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            s.writeTo(out);
            assertEquals(s.size(), out.size(), s.fileName() + ": announced size");
            files.put(s.fileName(), out.toByteArray());
        }
        return files;
    }

    @Test
    void manyShardsRoundTripWithAnHfIndexAndOversizedTensorsAlone() throws IOException {
        Map<String, HostTensor> in = state();
        ShardedSafetensors.Layout layout = ShardedSafetensors.plan("model", in, Map.of("format", "pt"), 1024);
        Map<String, byte[]> files = write(layout);
        int n = files.size();
        assertTrue(n > 5, "1 KiB shards of ~6 KiB of tensors: " + n);
        List<String> names = new ArrayList<>(files.keySet());
        for (int i = 0; i < n; i++) {
            assertEquals(String.format("model-%05d-of-%05d.safetensors", i + 1, n), names.get(i));
        }

        Map<String, HostTensor> back = new LinkedHashMap<>();
        Map<String, String> where = new LinkedHashMap<>();
        for (Map.Entry<String, byte[]> f : files.entrySet()) {
            Map<String, String> meta = Safetensors.read(new ByteArrayInputStream(f.getValue()), f.getKey(),
                    (name, t) -> {
                        back.put(name, t);
                        where.put(name, f.getKey());
                    });
            assertEquals(Map.of("format", "pt"), meta);
            Map<String, HostTensor> shard = Safetensors.read(f.getValue());
            long bytes = shard.values().stream().mapToLong(HostTensor::byteSize).sum();
            assertTrue(bytes <= 1024 || shard.size() == 1, f.getKey() + " holds " + bytes + " bytes in "
                    + shard.keySet() + ": only a lone tensor may pass the shard size");
        }
        assertEquals(in, back);
        assertEquals(Set.of("wte.weight"), Safetensors.read(files.get(where.get("wte.weight"))).keySet(),
                "a tensor larger than a shard has a shard of its own");

        // The index, as transformers writes it and parsed here without this code's parser.
        JsonNode index = JSON.readTree(layout.index().toJson());
        assertEquals(Set.of("metadata", "weight_map"), fieldNames(index));
        long total = in.values().stream().mapToLong(HostTensor::byteSize).sum();
        assertEquals(total, index.get("metadata").get("total_size").asLong());
        Map<String, String> weightMap = new LinkedHashMap<>();
        index.get("weight_map").properties().forEach(e -> weightMap.put(e.getKey(), e.getValue().asText()));
        assertEquals(new java.util.TreeMap<>(where), new java.util.TreeMap<>(weightMap));
        assertTrue(new String(layout.index().toJson(), StandardCharsets.UTF_8)
                .startsWith("{\n  \"metadata\": {\n    \"total_size\": " + total + "\n  },\n  \"weight_map\": {\n"));
        assertEquals(layout.index(), SafetensorsIndex.parse(layout.index().toJson(), "index"));
    }

    @Test
    void everyWrittenFileKeepsTheFormatsRules() throws IOException {
        for (long shard : new long[] {64, 1024, 1L << 30}) {
            for (byte[] file : write(ShardedSafetensors.plan("optimizer", state(), Map.of("step", "3"), shard))
                    .values()) {
                SafetensorsFormat.check(file);
            }
        }
    }

    @Test
    void oneShardIsASingleFileWithoutIndexAndMatchesTheArrayWriter() throws IOException {
        ShardedSafetensors.Layout layout = ShardedSafetensors.plan("model", state(), Map.of("format", "pt"),
                2000 * ShardedSafetensors.MB);
        assertNull(layout.index());
        Map<String, byte[]> files = write(layout);
        assertEquals(List.of("model.safetensors"), List.copyOf(files.keySet()));
        assertArrayEquals(Safetensors.write(state(), Map.of("format", "pt")), files.get("model.safetensors"));
    }

    @Test
    void sameContentGivesTheSameBytes() throws IOException {
        Map<String, HostTensor> reversed = new LinkedHashMap<>();
        List<String> keys = new ArrayList<>(state().keySet());
        java.util.Collections.reverse(keys);
        keys.forEach(k -> reversed.put(k, state().get(k)));
        Map<String, byte[]> a = write(ShardedSafetensors.plan("model", state(), Map.of(), 512));
        Map<String, byte[]> b = write(ShardedSafetensors.plan("model", reversed, Map.of(), 512));
        assertEquals(a.keySet(), b.keySet());
        a.forEach((name, bytes) -> assertArrayEquals(bytes, b.get(name), name));
    }

    /**
     * A file past 2 GiB is written without holding it: its tensors produce their bytes on demand and the sink
     * only counts them and keeps the header.
     */
    @Test
    void aFileOverTwoGibStreamsThroughACountingSink() throws IOException {
        Map<String, TensorSource> huge = new LinkedHashMap<>();
        for (int i = 0; i < 3; i++) {
            huge.put("layer." + i, generated(new long[] {200_000_000L}));   // 800 MB each
        }
        long size = Safetensors.fileSize(huge, Map.of());
        assertTrue(size > (1L << 31), "the file is " + size + " bytes");
        Counting sink = new Counting();
        Safetensors.write(sink, huge, Map.of());
        assertEquals(size, sink.count);
        SafetensorsFormat.checkHeader(sink.head.toByteArray(), size);
    }

    private static TensorSource generated(long[] shape) {
        byte[] block = new byte[1 << 20];
        new Random(1).nextBytes(block);
        return new TensorSource() {
            @Override
            public String dtype() {
                return "F32";
            }

            @Override
            public long[] shape() {
                return shape.clone();
            }

            @Override
            public void writeTo(OutputStream out) throws IOException {
                long left = byteSize();
                while (left > 0) {
                    int n = (int) Math.min(block.length, left);
                    out.write(block, 0, n);
                    left -= n;
                }
            }
        };
    }

    /** Counts what is written and keeps the first 64 KiB (the header). */
    private static final class Counting extends OutputStream {
        final ByteArrayOutputStream head = new ByteArrayOutputStream();
        long count;

        @Override
        public void write(int b) {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) {
            int keep = (int) Math.max(0, Math.min(len, 65536 - count));
            head.write(b, off, keep);
            count += len;
        }
    }

    private static Set<String> fieldNames(JsonNode n) {
        Set<String> out = new java.util.TreeSet<>();
        n.fieldNames().forEachRemaining(out::add);
        return out;
    }
}
