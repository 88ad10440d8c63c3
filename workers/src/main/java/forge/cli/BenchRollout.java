package forge.cli;

import forge.bench.BenchSection;
import forge.bench.RolloutBench;
import forge.errors.BadInputException;
import forge.worker.WorkerProcess;
import forge.worker.WorkerSettings;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.util.Locale;
import java.util.concurrent.Callable;

@Command(name = "rollout", description = "PPO rollout throughput on the demo's models and PPO settings "
        + "(config/demo.yaml): generation tokens/s, whole-iteration tokens/s and where an iteration's time goes. "
        + "Trains the parent models only briefly. Prints a markdown section.")
final class BenchRollout implements Callable<Integer> {
    @Option(names = "--iterations", defaultValue = "8", description = "PPO iterations measured (default ${DEFAULT-VALUE})")
    int iterations;

    @Option(names = "--warmup", defaultValue = "1", description = "PPO iterations run first and not counted "
            + "(default ${DEFAULT-VALUE})")
    int warmup;

    @Override
    public Integer call() {
        RolloutBench.Settings d = RolloutBench.Settings.defaults();
        RolloutBench.Settings settings;
        try {
            settings = new RolloutBench.Settings(d.demoStages(), d.pretrainSteps(), d.sftSteps(), d.rewardSteps(),
                    warmup, iterations, d.evalPrompts());
        } catch (BadInputException e) {
            throw new BadInputException(e.getMessage().replace("bench.iterations", "--iterations")
                    .replace("bench.warmup_iterations", "--warmup"), e);
        }
        WorkerProcess.configureTorchThreads(WorkerSettings.fromEnvironment(System.getenv()).torchThreads());
        long t0 = System.nanoTime();
        BenchSection section = RolloutBench.run(settings, line ->
                System.err.printf(Locale.ROOT, "[%6.1f s] %s%n", (System.nanoTime() - t0) / 1e9, line));
        System.out.println();
        System.out.print(section.markdown());
        return 0;
    }
}
