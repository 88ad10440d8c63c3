package forge.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import forge.config.ShippedFiles;
import forge.dev.DevStack;
import forge.storage.S3Settings;
import forge.worker.Role;
import forge.worker.WorkerProcess;
import forge.worker.WorkerSettings;
import forge.workflow.PipelineResult;
import forge.workflow.PipelineSpec;
import forge.workflow.PipelineState;
import forge.workflow.StageResult;
import forge.workflow.TaskQueues;
import forge.workflow.TrainingPipeline;
import io.temporal.client.WorkflowClient;
import io.temporal.client.WorkflowFailedException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

@Command(name = "demo", description = "Run the whole pipeline on the embedded default: no services to install.")
final class DemoCommand implements Callable<Integer> {
    @Option(names = "--config", description = "pipeline spec (default: config/demo.yaml of this checkout)")
    Path config;

    @Option(names = "--summary-json", description = "also write the run summary (DESIGN.md) to this file")
    Path summaryJson;

    @Option(names = "--data-dir", defaultValue = ".forge", description = "where checkpoints are kept (default: ${DEFAULT-VALUE})")
    Path dataDir;

    @Option(names = "--threads", description = "torch intra-op threads (default: all cores)")
    Integer threads;

    @Override
    public Integer call() throws Exception {
        if (config == null) {
            config = ShippedFiles.resolve("config", "demo.yaml");
        }
        JsonNode json = SpecFiles.read(config);
        PipelineSpec spec = StartCommand.validate(json, config);
        String runId = StartCommand.defaultRunId("demo");
        long start = System.nanoTime();
        Path s3Dir = dataDir.resolve("s3");
        try (DevStack stack = DevStack.start(s3Dir, 0, 0)) {
            WorkerSettings settings = WorkerSettings.fromEnvironment(System.getenv())
                    .withTemporalAddress(stack.temporalAddress()).withS3(stack.s3Settings()).withMetricsPort(0)
                    // A lively progress bar: heartbeats cost no history events, so once a second is fine here.
                    .withHeartbeatInterval(Duration.ofSeconds(1));
            if (threads != null) {
                settings = settings.withTorchThreads(threads);
            }
            try (WorkerProcess process = WorkerProcess.start(settings, Role.ALL, List.of(TaskQueues.GPU))) {
                System.out.println("LLM Forge demo: " + String.join(" → ", spec.stages().stream().map(s -> s.name()).toList())
                        + " on the embedded stack");
                System.out.println("  run id    " + runId);
                System.out.println("  Temporal  " + stack.temporalAddress() + "   S3 " + stack.s3Endpoint()
                        + "   metrics " + process.metricsAddress());
                WorkflowClient client = process.client();
                StartCommand.startPipeline(client, runId, spec, json);
                new ProgressView(client, runId, System.out).followUntilClosed();
                PipelineResult result;
                try {
                    result = client.newUntypedWorkflowStub(runId).getResult(PipelineResult.class);
                } catch (WorkflowFailedException e) {
                    System.out.println();
                    System.out.println("demo FAILED: " + client.newWorkflowStub(TrainingPipeline.class, runId).status().error());
                    return Forge.EXIT_FAILED;
                }
                report(result, s3Dir, settings.s3(), (System.nanoTime() - start) / 1e9);
                if (summaryJson != null) {
                    Files.write(summaryJson, new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT)
                            .writeValueAsBytes(result));
                    System.out.println("summary written to " + summaryJson);
                }
                return result.state() == PipelineState.COMPLETED ? 0 : Forge.EXIT_FAILED;
            }
        }
    }

    /** GRPO's and DPO's figures: the same held-out questions as PPO's, answered by the SFT policy and by theirs. */
    private static void rlReport(String stage, Map<String, Double> m) {
        boolean grpo = m.containsKey("rewardGrpo");
        String who = grpo ? "Grpo" : "Dpo";
        if (!grpo) {
            System.out.printf(Locale.ROOT, "  held-out pairs ranked like the human labels by the implicit reward "
                            + "β·log(π/π_ref): %.1f%%; mean margin %+.3f (chosen %+.3f, rejected %+.3f)%n",
                    100 * m.get("valPairAccuracy"), m.get("valMarginMean"), m.get("valRewardChosen"),
                    m.get("valRewardRejected"));
        }
        if (!m.containsKey("truth" + who) && !m.containsKey("responseLength" + who)) {
            return;
        }
        System.out.printf(Locale.ROOT, "  held-out answers, SFT policy -> %s policy (sampled as in rollouts):%n",
                stage.toUpperCase(Locale.ROOT));
        if (grpo) {
            System.out.printf(Locale.ROOT, "    reward %+.3f -> %+.3f (weighted sources)%n", m.get("rewardSft"),
                    m.get("rewardGrpo"));
        }
        if (m.containsKey("truth" + who)) {
            System.out.printf(Locale.ROOT, "    ground truth       %+.3f -> %+.3f (the demo world's hidden rule); "
                            + "right answers %.1f%% -> %.1f%%%n", m.get("truthScoreSft"), m.get("truthScore" + who),
                    100 * m.get("truthSft"), 100 * m.get("truth" + who));
        }
        if (m.containsKey("passAtKSft")) {
            System.out.printf(Locale.ROOT, "    pass@k (some answer right among k samples) %.1f%% -> %.1f%%%n",
                    100 * m.get("passAtKSft"), 100 * m.getOrDefault("passAtK" + who, Double.NaN));
        }
        System.out.printf(Locale.ROOT, "    KL to the SFT policy %.2f nats per answer; %.1f -> %.1f tokens per answer%n",
                m.get("klFinal"), m.get("responseLengthSft"), m.get("responseLength" + who));
        if (m.getOrDefault("rewardErrors", 0.0) > 0) {
            System.out.printf(Locale.ROOT, "    %.0f answers a verifier failed on (scored with its on_error)%n",
                    m.get("rewardErrors"));
        }
    }

    private static void report(PipelineResult result, Path s3Dir, S3Settings s3, double wallSeconds) {
        System.out.println();
        System.out.printf(Locale.ROOT, "%s in %.1f s%n", result.state(), wallSeconds);
        for (Map.Entry<String, StageResult> e : result.stages().entrySet()) {
            StageResult r = e.getValue();
            Map<String, Double> m = r.metrics();
            System.out.printf(Locale.ROOT, "%n%s: %d steps in %.1f s, %,.0f tokens/s%n", e.getKey(), r.steps(),
                    r.wallSeconds(), r.tokensPerSecond());
            if (m.containsKey("unigramBaseline")) {
                System.out.printf(Locale.ROOT, "  validation loss %.3f -> %.3f nats/token (unigram baseline %.3f)%n",
                        m.get("valLossStart"), m.get("valLossEnd"), m.get("unigramBaseline"));
            } else if (m.containsKey("rewardGrpo") || m.containsKey("valRewardChosen")) {
                rlReport(e.getKey(), m);
            } else if (m.containsKey("valPairAccuracy")) {
                System.out.printf(Locale.ROOT, "  validation loss %.3f -> %.3f (pairwise, -log sigmoid of the margin)%n",
                        m.get("valLossStart"), m.get("valLossEnd"));
            } else if (m.containsKey("rewardPpo")) {
                System.out.printf(Locale.ROOT, "  held-out answers, SFT policy -> PPO policy (sampled as in rollouts):%n");
                System.out.printf(Locale.ROOT, "    reward-model score %+.3f -> %+.3f (normalised)%n", m.get("rewardSft"),
                        m.get("rewardPpo"));
                if (m.containsKey("truthPpo")) {
                    System.out.printf(Locale.ROOT, "    ground truth       %+.3f -> %+.3f (the demo world's hidden rule); "
                            + "right answers %.1f%% -> %.1f%%%n", m.get("truthScoreSft"), m.get("truthScorePpo"),
                            100 * m.get("truthSft"), 100 * m.get("truthPpo"));
                }
                System.out.printf(Locale.ROOT, "    KL to the SFT policy %.2f nats per answer (last rollout %.2f, β %.3f); "
                                + "%.1f -> %.1f tokens per answer%n", m.get("klFinal"), m.get("klRollout"),
                        m.get("klCoef"), m.get("responseLengthSft"), m.get("responseLengthPpo"));
                if (m.getOrDefault("hackingWarnings", 0.0) > 0) {
                    System.out.printf(Locale.ROOT, "    %.0f reward-hacking warnings (see the log)%n", m.get("hackingWarnings"));
                }
            } else if (m.containsKey("valLossStart")) {
                System.out.printf(Locale.ROOT, "  validation loss %.3f -> %.3f nats per answer token%n",
                        m.get("valLossStart"), m.get("valLossEnd"));
            }
            if (m.containsKey("valTokenAccuracyAfter")) {
                System.out.printf(Locale.ROOT, "  answer-token accuracy %.1f%% -> %.1f%%%n",
                        100 * m.get("valTokenAccuracyBefore"), 100 * m.get("valTokenAccuracyAfter"));
            }
            if (m.containsKey("taskAccuracyAfter")) {
                System.out.printf(Locale.ROOT, "  held-out questions answered correctly %.1f%% -> %.1f%%%n",
                        100 * m.get("taskAccuracyBefore"), 100 * m.get("taskAccuracyAfter"));
            }
            if (m.containsKey("valPairAccuracyBefore")) {
                System.out.printf(Locale.ROOT, "  held-out pairs ranked like the human labels %.1f%% -> %.1f%%; "
                                + "rewards %.2f ± %.2f%n", 100 * m.get("valPairAccuracyBefore"),
                        100 * m.get("valPairAccuracy"), m.get("rewardMean"), m.get("rewardStd"));
                if (m.containsKey("valPairAccuracyWhereCorrectnessDecides")) {
                    System.out.printf(Locale.ROOT, "  (%.1f%% where one answer is right and the other wrong, %.1f%% where "
                                    + "tone and length decide)%n", 100 * m.get("valPairAccuracyWhereCorrectnessDecides"),
                            100 * m.getOrDefault("valPairAccuracyWhereStyleDecides", Double.NaN));
                }
                if (m.getOrDefault("pairsSkippedTooLong", 0.0) > 0) {
                    System.out.printf(Locale.ROOT, "  (%.0f pairs with a response too long for the context were left out)%n",
                            m.get("pairsSkippedTooLong"));
                }
            }
            if (!r.samples().isEmpty()) {
                System.out.println("  samples:");
                for (String sample : r.samples()) {
                    System.out.println("    | " + sample.strip().replace("\n", "\n    | "));
                }
            }
            System.out.println("  checkpoint " + r.checkpoint());
        }
        String runRoot = s3.root().resolve(result.runId()).toString();
        Path runDir = s3Dir.resolve(s3.bucket()).resolve(s3.prefix()).resolve(result.runId()).toAbsolutePath();
        System.out.println();
        System.out.println("checkpoints: " + runRoot + "/  (on disk: " + runDir + ")");
        // Written next to summary.json by the pipeline; each stage's own report sits in its final/.
        Path reportFile = runDir.resolve("report.html");
        System.out.println("report: " + (Files.exists(reportFile) ? reportFile.toUri()
                : "not written (see the log)"));
    }
}
