package forge.cli;

import forge.bench.GpuVerify;
import forge.config.ShippedFiles;
import forge.worker.WorkerProcess;
import forge.worker.WorkerSettings;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/** The CUDA path's checks on this machine (infra/gpu/verify.sh runs it); `--device cpu --tiny` runs anywhere. */
@Command(name = "gpu-verify", description = "Checks the CUDA path on this machine: the engine sees the GPU, GPT-2 "
        + "small trains (tokens/s, MFU), a stopped and resumed stage ends byte-identical, a Llama fixture fine-tunes. "
        + "Exits non-zero on the first failed check.")
final class GpuVerifyCommand implements Callable<Integer> {
    @Option(names = "--device", defaultValue = "cuda", description = "cuda (fail without a GPU) or cpu (default ${DEFAULT-VALUE})")
    String device;

    @Option(names = "--tiny", description = "a 2-layer model and a few steps: the same checks in seconds")
    boolean tiny;

    @Option(names = "--steps", description = "steps of the throughput run (default 300, 20 with --tiny)")
    Integer steps;

    @Option(names = "--peak-tflops", defaultValue = "0", description = "the GPU's dense peak for MFU, TFLOP/s (verify.sh looks it up by name)")
    double peakTflops;

    @Option(names = "--precision", description = "fp32, bf16 or fp16 (default bf16 on cuda, fp32 on cpu)")
    String precision;

    @Option(names = "--llama-fixture", description = "Hugging Face Llama directory to fine-tune (default the repo's test fixture; \"none\" skips)")
    String llamaFixture;

    @Override
    public Integer call() {
        WorkerProcess.configureTorchThreads(WorkerSettings.fromEnvironment(System.getenv()).torchThreads());
        Path fixture;
        if ("none".equals(llamaFixture)) {
            fixture = null;
        } else {
            fixture = llamaFixture != null ? Path.of(llamaFixture)
                    : ShippedFiles.resolve("activities", "src", "test", "resources", "hf-fixtures", "llama");
            if (!Files.isDirectory(fixture)) {
                throw new forge.errors.BadInputException("--llama-fixture: " + fixture + " is not a directory");
            }
        }
        new GpuVerify(device, tiny, steps != null ? steps : tiny ? 20 : 300, peakTflops,
                precision != null ? precision : device.equals("cuda") ? "bf16" : "fp32", fixture)
                .run(System.out::println);
        return 0;
    }
}
