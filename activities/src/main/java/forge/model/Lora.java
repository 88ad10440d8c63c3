package forge.model;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import forge.tensor.EngineArrays;
import forge.tensor.HostTensor;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Adding LoRA adapters to a model's blocks and folding them back into the weights (see {@link Gpt#addLora}).
 * Adapters are named {@code <block prefix><module>.lora_A} / {@code .lora_B}, PEFT's module paths; their layout
 * follows the weight's: Conv1D's (in, r) and (r, out), nn.Linear's PEFT layout (r, in) and (out, r).
 */
final class Lora {
    private Lora() {
    }

    /**
     * Adapters on every targeted linear of every block: A drawn uniformly from ±1/√in (PEFT's
     * kaiming_uniform(a=√5)) with a Java RNG seeded by seed, B zeros, so the model computes exactly what it did.
     */
    static LinkedHashMap<String, NDArray> add(List<Block> blocks, Architecture arch, LoraConfig cfg, long seed,
                                              NDManager m) {
        SplittableRandom rng = new SplittableRandom(seed);
        LinkedHashMap<String, NDArray> added = new LinkedHashMap<>();
        NDArray scale = Gpt.keep(EngineArrays.scalar(m, cfg.scale()));
        List<String> modules = cfg.modules(arch);
        for (int i = 0; i < blocks.size(); i++) {
            for (String module : modules) {
                Linear l = blocks.get(i).linears().get(module);
                long in = l.in();
                long out = l.out();
                float[] a = new float[Math.toIntExact(in * cfg.rank())];
                double bound = 1 / Math.sqrt(in);
                for (int j = 0; j < a.length; j++) {
                    a[j] = (float) ((2 * rng.nextDouble() - 1) * bound);
                }
                String name = arch.blockPrefix(i) + module + ".lora_";
                NDArray aArr = Gpt.parameter(m, name + "A", a,
                        l.conv1d ? new Shape(in, cfg.rank()) : new Shape(cfg.rank(), in));
                NDArray bArr = Gpt.parameter(m, name + "B", new float[Math.toIntExact(cfg.rank() * out)],
                        l.conv1d ? new Shape(cfg.rank(), out) : new Shape(out, cfg.rank()));
                added.put(name + "A", aArr);
                added.put(name + "B", bArr);
                l.adapter = new Linear.Adapter(aArr, bArr, scale);
            }
        }
        return added;
    }

    /** W ← W + scale·A·B (in the weight's layout) for every adapter, which is then removed and freed. */
    static void merge(List<Block> blocks, Architecture arch, LoraConfig cfg) {
        NDArray scale = null;
        for (Block block : blocks) {
            for (String module : cfg.modules(arch)) {
                Linear l = block.linears().get(module);
                Linear.Adapter a = l.adapter;
                HostTensor merged;
                try (NDScope scope = new NDScope()) {
                    merged = HostTensor.of(l.weight.add(l.adapterDelta()));
                }
                EngineArrays.copyInto(l.weight, merged);
                l.adapter = null;
                a.a().close();
                a.b().close();
                scale = a.scale();
            }
        }
        if (scale != null) {
            scale.close();
        }
    }
}
