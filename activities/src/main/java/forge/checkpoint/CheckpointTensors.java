package forge.checkpoint;

import forge.errors.BadInputException;
import forge.tensor.HostTensor;
import forge.tensor.Safetensors;
import forge.tensor.SafetensorsIndex;
import forge.tensor.ShardedSafetensors;
import forge.tensor.TensorSource;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A state dict as checkpoint files and back: {@code <prefix>.safetensors} when it fits one shard, else Hugging Face's
 * sharded layout with {@code <prefix>.safetensors.index.json} (see {@link ShardedSafetensors}). Shards are streamed
 * both ways, so neither writing nor reading ever holds a shard; reading accepts both layouts, which includes every
 * checkpoint written before shards existed.
 */
public final class CheckpointTensors {
    private CheckpointTensors() {
    }

    /** The shards (streamed) and, when there are several, the index (in memory). */
    public static List<CheckpointFile> files(String prefix, Map<String, ? extends TensorSource> tensors,
                                             Map<String, String> metadata, long shardBytes) {
        ShardedSafetensors.Layout layout = ShardedSafetensors.plan(prefix, tensors, metadata, shardBytes);
        List<CheckpointFile> out = new ArrayList<>();
        for (ShardedSafetensors.Shard s : layout.shards()) {
            out.add(CheckpointFile.streamed(s.fileName(), s.size(), s::writeTo));
        }
        if (layout.index() != null) {
            out.add(new CheckpointFile(SafetensorsIndex.fileName(prefix), layout.index().toJson()));
        }
        return out;
    }

    /** One safetensors file, streamed, whatever its size (files a task names itself, e.g. a value head). */
    public static CheckpointFile single(String fileName, Map<String, ? extends TensorSource> tensors,
                                        Map<String, String> metadata) {
        Map<String, TensorSource> copy = new LinkedHashMap<>(tensors);
        return CheckpointFile.streamed(fileName, Safetensors.fileSize(copy, metadata),
                out -> Safetensors.write(out, copy, metadata));
    }

    /** Whether the checkpoint has the state dict {@code prefix} in either layout. */
    public static boolean has(LoadedCheckpoint c, String prefix) {
        return c.has(prefix + ".safetensors") || c.has(SafetensorsIndex.fileName(prefix));
    }

    /**
     * Hands every tensor of {@code prefix} to {@code sink}, shard by shard, each shard streamed and its digest
     * checked at its end. With an index, every tensor it lists must be in the shard it names, and no other.
     */
    public static void read(LoadedCheckpoint c, String prefix, Safetensors.TensorSink sink) {
        String single = prefix + ".safetensors";
        String indexName = SafetensorsIndex.fileName(prefix);
        if (c.has(single)) {
            stream(c, single, sink);
            return;
        }
        if (!c.has(indexName)) {
            throw new BadInputException("checkpoint " + c.uri() + " has neither " + single + " nor " + indexName);
        }
        SafetensorsIndex index = SafetensorsIndex.parse(c.file(indexName), c.uri() + "/" + indexName);
        for (String shard : index.shards()) {
            if (!c.has(shard)) {
                throw new BadInputException("checkpoint " + c.uri() + " lacks " + shard + " that " + indexName
                        + " lists");
            }
            List<String> seen = new ArrayList<>();
            stream(c, shard, (name, t) -> {
                if (!shard.equals(index.weightMap().get(name))) {
                    throw new BadInputException(c.uri() + "/" + shard + ": has tensor " + name + " that " + indexName
                            + (index.weightMap().containsKey(name) ? " puts in " + index.weightMap().get(name)
                            : " does not list"));
                }
                seen.add(name);
                sink.accept(name, t);
            });
            index.weightMap().forEach((name, file) -> {
                if (file.equals(shard) && !seen.contains(name)) {
                    throw new BadInputException(c.uri() + "/" + shard + ": lacks tensor " + name + " that "
                            + indexName + " puts there");
                }
            });
        }
    }

    /** Every tensor of {@code prefix} in one map: what a model's load takes (the state on the heap, once). */
    public static LinkedHashMap<String, HostTensor> readAll(LoadedCheckpoint c, String prefix) {
        LinkedHashMap<String, HostTensor> out = new LinkedHashMap<>();
        read(c, prefix, out::put);
        return out;
    }

    /** The tensors of one named safetensors file, streamed (no 2 GiB limit on the file). */
    public static LinkedHashMap<String, HostTensor> readFile(LoadedCheckpoint c, String fileName) {
        LinkedHashMap<String, HostTensor> out = new LinkedHashMap<>();
        stream(c, fileName, out::put);
        return out;
    }

    private static void stream(LoadedCheckpoint c, String file, Safetensors.TensorSink sink) {
        try (InputStream in = c.open(file)) {
            Safetensors.read(in, c.uri() + "/" + file, sink);
        } catch (IOException e) {
            throw new UncheckedIOException("reading " + c.uri() + "/" + file + " failed: " + e.getMessage(), e);
        }
    }
}
