package forge.tensor;

import java.io.IOException;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * Splits a state dict into safetensors shards the way Hugging Face does ({@code split_torch_state_dict_into_shards}):
 * tensors in order fill a shard until the next would pass {@code shardBytes}; a tensor is never split, and one larger
 * than a shard gets a shard of its own. One shard is written as {@code <prefix>.safetensors} with no index; more as
 * {@code <prefix>-00001-of-0000N.safetensors} plus {@link SafetensorsIndex}. Tensors go in name order, so the same
 * content always gives the same files, byte for byte.
 */
public final class ShardedSafetensors {
    /** Hugging Face's unit: "5GB" is 5 × 10^9 bytes. */
    public static final long MB = 1_000_000L;

    private ShardedSafetensors() {
    }

    /** One file of the layout; its bytes are produced only by {@link #writeTo}. */
    public record Shard(String fileName, SortedMap<String, TensorSource> tensors, Map<String, String> metadata) {
        public Shard {
            tensors = Collections.unmodifiableSortedMap(new TreeMap<>(tensors));
            metadata = metadata == null ? Map.of() : Map.copyOf(metadata);
        }

        /** The file's size, header included. */
        public long size() {
            return Safetensors.fileSize(tensors, metadata);
        }

        public void writeTo(OutputStream out) throws IOException {
            Safetensors.write(out, tensors, metadata);
        }
    }

    /** The shards, and the index when there is more than one shard (null otherwise). */
    public record Layout(List<Shard> shards, SafetensorsIndex index) {
        public Layout {
            shards = List.copyOf(shards);
        }

        /** Every tensor's bytes, headers excluded: the index's total_size. */
        public long tensorBytes() {
            long n = 0;
            for (Shard s : shards) {
                for (TensorSource t : s.tensors().values()) {
                    n += t.byteSize();
                }
            }
            return n;
        }
    }

    /**
     * @param prefix     "model" or "optimizer"
     * @param metadata   written into every shard (HF writes {"format": "pt"})
     * @param shardBytes the most tensor bytes a shard holds, unless one tensor alone is larger
     */
    public static Layout plan(String prefix, Map<String, ? extends TensorSource> tensors, Map<String, String> metadata,
                              long shardBytes) {
        if (shardBytes <= 0) {
            throw new IllegalArgumentException("shard size must be > 0, got " + shardBytes);
        }
        if (tensors.isEmpty()) {
            throw new IllegalArgumentException(prefix + " has no tensors to write");
        }
        List<SortedMap<String, TensorSource>> groups = new ArrayList<>();
        SortedMap<String, TensorSource> current = new TreeMap<>();
        long currentBytes = 0;
        for (Map.Entry<String, ? extends TensorSource> e : new TreeMap<>(tensors).entrySet()) {
            long size = e.getValue().byteSize();
            if (!current.isEmpty() && currentBytes + size > shardBytes) {
                groups.add(current);
                current = new TreeMap<>();
                currentBytes = 0;
            }
            current.put(e.getKey(), e.getValue());
            currentBytes += size;
        }
        groups.add(current);
        if (groups.size() == 1) {
            return new Layout(List.of(new Shard(prefix + ".safetensors", groups.get(0), metadata)), null);
        }
        List<Shard> shards = new ArrayList<>();
        Map<String, String> weightMap = new LinkedHashMap<>();
        for (int i = 0; i < groups.size(); i++) {
            String name = shardName(prefix, i + 1, groups.size());
            shards.add(new Shard(name, groups.get(i), metadata));
            groups.get(i).keySet().forEach(t -> weightMap.put(t, name));
        }
        Layout layout = new Layout(shards, null);
        return new Layout(shards, new SafetensorsIndex(layout.tensorBytes(), weightMap));
    }

    /** {@code model-00002-of-00005.safetensors}, as transformers names shards. */
    public static String shardName(String prefix, int number, int count) {
        return String.format("%s-%05d-of-%05d.safetensors", prefix, number, count);
    }
}
