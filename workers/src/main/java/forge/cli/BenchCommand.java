package forge.cli;

import forge.bench.GenerationBench;
import forge.errors.BadInputException;
import forge.worker.WorkerProcess;
import forge.worker.WorkerSettings;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/** Performance measured on the machine it runs on; `all` writes the report BENCHMARKS.md records. */
@Command(name = "bench", description = "Benchmarks on this machine; each prints markdown, `all` runs every one.",
        subcommands = {BenchAll.class, BenchCommand.Generation.class, BenchCheckpointIo.class, BenchTraining.class, BenchMemory.class,
                BenchRollout.class, BenchRestart.class})
final class BenchCommand implements Callable<Integer> {
    @Override
    public Integer call() {
        throw new BadInputException("bench needs a benchmark: all, or one of " + BenchAll.PARTS);
    }

    @Command(name = "generation", description = "Generation speed with and without the KV cache on randomly "
            + "initialised models, and whether both pick the same tokens. Prints a markdown table.")
    static final class Generation implements Callable<Integer> {
        @Option(names = "--models", split = ",", defaultValue = "demo,gpt2-6x384",
                description = "model shapes to measure, of demo, gpt2-6x384, gpt2-small (default ${DEFAULT-VALUE})")
        List<String> models;

        @Option(names = "--batch", split = ",", defaultValue = "1,8", description = "batch sizes (default ${DEFAULT-VALUE})")
        List<Integer> batches;

        @Option(names = "--new-tokens", defaultValue = "256", description = "tokens generated per row (default ${DEFAULT-VALUE})")
        int newTokens;

        @Option(names = "--prompt-tokens", defaultValue = "16", description = "tokens per prompt (default ${DEFAULT-VALUE})")
        int promptTokens;

        @Option(names = "--seed", defaultValue = "1", description = "seeds models, prompts and sampling (default ${DEFAULT-VALUE})")
        long seed;

        @Option(names = "--no-greedy-check", description = "skip comparing greedy tokens with and without the cache")
        boolean noGreedyCheck;

        @Override
        public Integer call() {
            List<GenerationBench.Model> chosen = new ArrayList<>();
            for (String name : models) {
                chosen.add(GenerationBench.MODELS.stream().filter(m -> m.name().equals(name.strip())).findFirst()
                        .orElseThrow(() -> new BadInputException("--models: unknown model \"" + name + "\"; choose from "
                                + GenerationBench.MODELS.stream().map(GenerationBench.Model::name).toList())));
            }
            GenerationBench.Settings settings;
            try {
                settings = new GenerationBench.Settings(promptTokens, newTokens, batches, seed, 16, !noGreedyCheck);
            } catch (BadInputException e) {
                throw new BadInputException(e.getMessage().replace("bench.prompt_tokens", "--prompt-tokens")
                        .replace("bench.new_tokens", "--new-tokens").replace("bench.batch", "--batch"), e);
            }
            WorkerProcess.configureTorchThreads(WorkerSettings.fromEnvironment(System.getenv()).torchThreads());
            for (GenerationBench.Model m : chosen) {
                System.err.println(m.name() + ": " + m.describe());
            }
            long t0 = System.nanoTime();
            GenerationBench.Result result = GenerationBench.run(chosen, settings, line ->
                    System.err.printf(Locale.ROOT, "[%6.1f s] %s%n", (System.nanoTime() - t0) / 1e9, line));
            System.out.println();
            System.out.print(result.markdown());
            return result.checks().stream().allMatch(GenerationBench.GreedyCheck::identical) ? 0 : Forge.EXIT_FAILED;
        }
    }
}
