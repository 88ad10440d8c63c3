package forge.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import forge.train.TrainingMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Static checks of the deployment files under {@code infra/}: they parse, the compose stack and the Kubernetes
 * manifests have what operators rely on, and every metric an alert or a dashboard panel queries is one the workers
 * really export. No network, no Docker; {@code promtool} runs only where it is installed.
 */
class InfraFilesTest {
    private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
    private static final Path INFRA = ROOT.resolve("infra");

    /**
     * Metrics that alerts or panels may name before any code exports them, each with the stage that will. A planned
     * metric that the code starts exporting fails {@link #plannedMetricsAreNotExportedYet()}: move it out of here.
     */
    private static final Map<String, String> PLANNED_METRICS = Map.of();

    /**
     * The Temporal SDK metrics the infra files may use, as a worker's /metrics exports them through Micrometer
     * (names seen on a live worker after a pipeline run; MetricsEndpointTest checks that temporal_* metrics are
     * served at all). They appear only after the SDK has reported once, so they cannot be scraped from a bare
     * registry here; instead every entry must derive from a constant of the SDK's own MetricsType classes.
     * Micrometer's Prometheus names: counters get {@code _total}, timers {@code _seconds_count/_sum/_max} and, for
     * the SDK's histogram timers, {@code _seconds_bucket}; gauges keep their name.
     */
    private static final Set<String> TEMPORAL_METRICS = Set.of(
            "temporal_activity_execution_latency_seconds_bucket",
            "temporal_activity_execution_latency_seconds_count",
            "temporal_activity_execution_latency_seconds_sum",
            "temporal_activity_execution_latency_seconds_max",
            "temporal_activity_schedule_to_start_latency_seconds_bucket",
            "temporal_activity_schedule_to_start_latency_seconds_count",
            "temporal_activity_schedule_to_start_latency_seconds_sum",
            "temporal_activity_execution_failed_total",
            "temporal_worker_task_slots_used",
            "temporal_worker_task_slots_available",
            "temporal_request_total",
            "temporal_request_failure_total",
            "temporal_request_latency_seconds_bucket",
            "temporal_workflow_completed_total",
            "temporal_workflow_failed_total",
            "temporal_workflow_canceled_total");

    /** Environment variables the worker image reads besides WorkerSettings' (see the forge launcher). */
    private static final Set<String> LAUNCHER_VARIABLES = Set.of("FORGE_JAVA_OPTS", "FORGE_HOME");

    private static final Set<String> STATIC_AWS_CREDENTIALS =
            Set.of("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN");

    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern METRIC = Pattern.compile("(?<![A-Za-z0-9_:])((?:forge|temporal)_[A-Za-z0-9_]+)");
    private static final Pattern QUOTED = Pattern.compile("\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`");

    private static Set<String> exported;
    private static Set<String> workflowMetrics;

    @BeforeAll
    static void scrapeTrainingMetrics() throws Exception {
        PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        try {
            new TrainingMetrics(registry, "infra-test", "pretrain");
            // PPO's metrics appear once a PPO stage reports an iteration.
            TrainingMetrics ppo = new TrainingMetrics(registry, "infra-test", "ppo");
            ppo.ppo(new TrainingMetrics.PpoIteration(1, 1, 1, 0.05, 1, 0, 0, 0, 0, 10, 0.5, 100));
            ppo.hackingWarning("kl");
            exported = registry.scrape().lines()
                    .filter(l -> !l.isBlank() && !l.startsWith("#"))
                    .map(l -> l.split("[{ ]", 2)[0])
                    .collect(Collectors.toCollection(TreeSet::new));
        } finally {
            registry.close();
        }
        // The workflow's own metrics reach the control worker's /metrics through the SDK's tally scope; they are for
        // alerts, not the training dashboard.
        PrometheusMeterRegistry control = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        com.uber.m3.tally.Scope workflowScope = new com.uber.m3.tally.RootScopeBuilder()
                .reporter(new io.temporal.common.reporter.MicrometerClientStatsReporter(control))
                .reportEvery(com.uber.m3.util.Duration.ofSeconds(3600));
        com.uber.m3.tally.Scope stage = workflowScope.tagged(Map.of("run", "infra-test", "stage", "pretrain"));
        stage.gauge(forge.workflow.PipelineMetrics.SAME_ERROR_IN_A_ROW).update(1);
        stage.tagged(Map.of("kind", "application")).counter(forge.workflow.PipelineMetrics.ATTEMPT_FAILURES).inc(1);
        workflowScope.close(); // reports what it holds
        workflowMetrics = control.scrape().lines()
                .filter(l -> !l.isBlank() && !l.startsWith("#"))
                .map(l -> l.split("[{ ]", 2)[0])
                .collect(Collectors.toCollection(TreeSet::new));
        control.close();
        assertTrue(workflowMetrics.contains(forge.workflow.PipelineMetrics.ATTEMPT_FAILURES + "_total"), "" + workflowMetrics);
        assertTrue(exported.contains("forge_step") && exported.contains("forge_tokens_trained_total"),
                "scrape of TrainingMetrics: " + exported);
    }

    // ---------------------------------------------------------------------------------------------------------
    // Files parse

    @Test
    void everyYamlAndJsonFileParses() throws IOException {
        List<Path> yaml = files(p -> p.toString().endsWith(".yml") || p.toString().endsWith(".yaml"));
        List<Path> json = files(p -> p.toString().endsWith(".json"));
        assertTrue(yaml.size() >= 10, "YAML files under infra/: " + yaml);
        assertFalse(json.isEmpty(), "no JSON under infra/");
        for (Path p : yaml) {
            List<JsonNode> docs = yamlDocuments(p);
            assertFalse(docs.isEmpty(), p + ": no YAML document");
        }
        for (Path p : json) {
            try {
                assertTrue(JSON.readTree(p.toFile()).isObject(), p + ": not a JSON object");
            } catch (IOException e) {
                fail(p + ": " + e.getMessage());
            }
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // docker-compose

    @Test
    void composeRunsTheWholeStackOnOneHost() throws IOException {
        JsonNode services = single(INFRA.resolve("docker-compose.yml")).path("services");
        Map<String, String> images = new TreeMap<>();
        services.fields().forEachRemaining(e -> images.put(e.getKey(), e.getValue().path("image").asText("")));
        assertImage(images, "postgresql", "postgres:");
        assertImage(images, "temporal", "temporalio/auto-setup:");
        assertImage(images, "temporal-ui", "temporalio/ui:");
        assertImage(images, "minio", "minio/minio:");
        assertImage(images, "minio-init", "minio/mc:");
        assertImage(images, "prometheus", "prom/prometheus:");
        assertImage(images, "grafana", "grafana/grafana:");

        JsonNode temporal = services.path("temporal");
        assertEquals("postgresql", temporal.path("environment").path("POSTGRES_SEEDS").asText(), "Temporal's database");

        JsonNode init = services.path("minio-init");
        assertTrue(init.path("command").toString().contains("mc mb"), "bucket creation: " + init.path("command"));

        JsonNode worker = services.path("worker");
        assertEquals("infra/docker/Dockerfile", worker.path("build").path("dockerfile").asText());
        assertTrue(Files.isRegularFile(INFRA.resolve("docker-compose.yml").getParent()
                .resolve(worker.path("build").path("context").asText()).resolve("infra/docker/Dockerfile")));
        assertEquals("service_completed_successfully",
                worker.path("depends_on").path("minio-init").path("condition").asText(), "bucket exists before the worker");
        Map<String, String> env = mapOf(worker.path("environment"));
        assertEquals("temporal:7233", env.get("FORGE_TEMPORAL_ADDRESS"));
        assertEquals("http://minio:9000", env.get("FORGE_S3_ENDPOINT"));
        assertEquals("true", env.get("FORGE_S3_PATH_STYLE"));
        assertTrue(init.path("command").toString().contains("local/" + env.get("FORGE_S3_BUCKET")),
                "the init container creates FORGE_S3_BUCKET");
        int grace = Integer.parseInt(env.get("FORGE_SHUTDOWN_GRACE_SECONDS"));
        assertTrue(seconds(worker.path("stop_grace_period").asText()) > grace,
                "stop_grace_period must exceed FORGE_SHUTDOWN_GRACE_SECONDS " + grace);
        assertKnownForgeVariables("docker-compose.yml worker", env.keySet());

        // Prometheus and Grafana use the files under infra/.
        String promVolumes = services.path("prometheus").path("volumes").toString();
        assertTrue(promVolumes.contains("./prometheus/prometheus.yml") && promVolumes.contains("./prometheus/alerts.yml"),
                promVolumes);
        String grafanaVolumes = services.path("grafana").path("volumes").toString();
        assertTrue(grafanaVolumes.contains("./grafana/provisioning") && grafanaVolumes.contains("./grafana/dashboards"),
                grafanaVolumes);
        for (String volume : List.of("./prometheus/prometheus.yml", "./prometheus/alerts.yml", "./grafana/provisioning",
                "./grafana/dashboards")) {
            assertTrue(Files.exists(INFRA.resolve(volume)), volume);
        }

        // Prometheus scrapes the worker service on the metrics port and loads the rules.
        JsonNode prom = single(INFRA.resolve("prometheus/prometheus.yml"));
        assertTrue(prom.path("rule_files").toString().contains("alerts.yml"), "rule_files");
        assertTrue(prom.path("scrape_configs").toString().contains("\"worker\"")
                && prom.path("scrape_configs").toString().contains(env.get("FORGE_METRICS_PORT")), "worker scrape job");
        JsonNode datasource = single(INFRA.resolve("grafana/provisioning/datasources/prometheus.yml"));
        assertEquals("http://prometheus:9090", datasource.path("datasources").get(0).path("url").asText());
    }

    // ---------------------------------------------------------------------------------------------------------
    // Kubernetes

    @Test
    void gpuWorkerDeploymentIsSafeToPreemptAndUsesThePodIdentity() throws IOException {
        List<JsonNode> k8s = kubernetesObjects();
        JsonNode gpu = deploymentWithRole(k8s, "gpu");
        JsonNode pod = gpu.path("spec").path("template").path("spec");
        JsonNode container = pod.path("containers").get(0);

        assertEquals("1", container.path("resources").path("limits").path("nvidia.com/gpu").asText(), "GPU limit");
        assertFalse(pod.path("nodeSelector").isEmpty() && pod.path("affinity").path("nodeAffinity").isMissingNode(),
                "GPU node selection");
        assertTrue(pod.path("tolerations").toString().contains("nvidia.com/gpu"), "tolerates GPU node taints");

        Map<String, String> env = resolvedEnv(k8s, container);
        int shutdownGrace = Integer.parseInt(env.getOrDefault("FORGE_SHUTDOWN_GRACE_SECONDS", "60"));
        int podGrace = pod.path("terminationGracePeriodSeconds").asInt(30);
        assertTrue(podGrace > shutdownGrace,
                "terminationGracePeriodSeconds " + podGrace + " must exceed FORGE_SHUTDOWN_GRACE_SECONDS " + shutdownGrace);
        assertTrue(podGrace - shutdownGrace >= 15, "leave the JVM some margin after the checkpoint");

        assertProbesOnMetricsPort(container, env);
        assertServiceAccountWithIrsa(k8s, pod);
    }

    @Test
    void controlWorkerDeploymentRunsTheControlRole() throws IOException {
        List<JsonNode> k8s = kubernetesObjects();
        JsonNode control = deploymentWithRole(k8s, "control");
        JsonNode pod = control.path("spec").path("template").path("spec");
        JsonNode container = pod.path("containers").get(0);
        assertTrue(container.path("resources").path("limits").path("nvidia.com/gpu").isMissingNode(), "no GPU");
        Map<String, String> env = resolvedEnv(k8s, container);
        assertTrue(pod.path("terminationGracePeriodSeconds").asInt(30)
                > Integer.parseInt(env.getOrDefault("FORGE_SHUTDOWN_GRACE_SECONDS", "60")));
        assertProbesOnMetricsPort(container, env);
        assertServiceAccountWithIrsa(k8s, pod);
    }

    @Test
    void manifestsCarryNoStaticCredentialsAndOnlyKnownSettings() throws IOException {
        List<JsonNode> k8s = kubernetesObjects();
        for (JsonNode o : k8s) {
            String name = o.path("kind").asText() + " " + o.path("metadata").path("name").asText();
            if (o.path("kind").asText().equals("ConfigMap")) {
                Set<String> keys = new TreeSet<>();
                o.path("data").fieldNames().forEachRemaining(keys::add);
                for (String k : keys) {
                    assertFalse(STATIC_AWS_CREDENTIALS.contains(k), name + " holds " + k);
                }
                assertKnownForgeVariables(name, keys);
            }
            for (JsonNode c : containers(o)) {
                Set<String> names = new TreeSet<>();
                c.path("env").forEach(e -> names.add(e.path("name").asText()));
                for (String k : names) {
                    assertFalse(STATIC_AWS_CREDENTIALS.contains(k), name + " sets " + k + ": use the pod's identity");
                }
                assertKnownForgeVariables(name, names);
                c.path("envFrom").forEach(from -> assertTrue(from.path("secretRef").isMissingNode(),
                        name + ": envFrom a Secret could smuggle in access keys; name each variable instead"));
            }
        }
        String text = Files.readString(INFRA.resolve("k8s/gpu-worker.yaml")) + Files.readString(INFRA.resolve("k8s/control-worker.yaml"));
        assertFalse(text.contains("AKIA"), "an AWS access key id in a manifest");
    }

    /**
     * IRSA hands the pod a web identity token; the AWS SDK's default chain exchanges it only if the SDK's sts module
     * is on the worker's classpath (otherwise: "To use web identity tokens, the 'sts' service module must be on the
     * class path"). The manifests rely on it, so the worker jar must ship it.
     */
    @Test
    void workerClasspathCanUseTheIrsaWebIdentityToken() {
        String factory = "software.amazon.awssdk.services.sts.internal.StsWebIdentityCredentialsProviderFactory";
        try {
            Class.forName(factory, false, getClass().getClassLoader());
        } catch (ClassNotFoundException e) {
            fail("infra/k8s uses IRSA (eks.amazonaws.com/role-arn) but software.amazon.awssdk:sts is not on the "
                    + "worker classpath: add it to activities/pom.xml next to the s3 client (" + factory + ")");
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // Metrics used by alerts and dashboards

    @Test
    void alertsAndDashboardsUseOnlyExportedMetrics() throws IOException {
        Map<String, List<String>> used = new TreeMap<>();
        alertExpressions().forEach((where, expr) -> metricNames(expr).forEach(m -> used.computeIfAbsent(m, k -> new ArrayList<>()).add(where)));
        dashboardExpressions().forEach((where, expr) -> metricNames(expr).forEach(m -> used.computeIfAbsent(m, k -> new ArrayList<>()).add(where)));
        assertFalse(used.isEmpty());
        List<String> unknown = new ArrayList<>();
        used.forEach((metric, where) -> {
            boolean known = metric.startsWith("forge_")
                    ? exported.contains(metric) || workflowMetrics.contains(metric) || PLANNED_METRICS.containsKey(metric)
                    : TEMPORAL_METRICS.contains(metric);
            if (!known) {
                unknown.add(metric + " (in " + where + ")");
            }
        });
        assertTrue(unknown.isEmpty(), "metrics no worker exports: " + unknown + "\nexported forge metrics: " + exported
                + "\nallowed temporal metrics: " + new TreeSet<>(TEMPORAL_METRICS));
    }

    @Test
    void alertRulesCoverTheTrainingFailureModes() throws IOException {
        Map<String, String> rules = alertExpressions();
        Set<String> names = rules.keySet().stream().map(k -> k.substring(k.indexOf(':') + 1)).collect(Collectors.toSet());
        for (String alert : List.of("ForgeTrainingStalled", "ForgeHeartbeatsMissing", "ForgeLossNotFinite",
                "ForgePpoKlRunaway", "ForgeCheckpointsNotCommitted")) {
            assertTrue(names.contains(alert), "missing alert " + alert + " in " + names);
        }
        assertTrue(exprOf(rules, "ForgeTrainingStalled").contains("forge_step"));
        assertTrue(exprOf(rules, "ForgeHeartbeatsMissing").contains("RecordActivityTaskHeartbeat"));
        assertTrue(exprOf(rules, "ForgeLossNotFinite").contains("forge_train_loss != forge_train_loss"), "NaN test");
        assertTrue(exprOf(rules, "ForgePpoKlRunaway").contains("forge_ppo_kl"));
        assertTrue(exprOf(rules, "ForgeCheckpointsNotCommitted").contains("forge_checkpoint_write_seconds_count"));

        JsonNode groups = single(INFRA.resolve("prometheus/alerts.yml")).path("groups");
        for (JsonNode g : groups) {
            for (JsonNode r : g.path("rules")) {
                String alert = r.path("alert").asText();
                assertFalse(alert.isEmpty(), "recording rules are not expected here: " + r);
                assertTrue(Set.of("critical", "warning").contains(r.path("labels").path("severity").asText()), alert + " severity");
                assertFalse(r.path("annotations").path("summary").asText().isBlank(), alert + " summary");
                if (r.has("for")) {
                    assertTrue(r.path("for").asText().matches("\\d+[smh]"), alert + " for: " + r.path("for"));
                }
            }
        }
    }

    @Test
    void dashboardHasRunAndStageVariablesAndCoversEveryTrainingMetric() throws IOException {
        JsonNode dashboard = JSON.readTree(INFRA.resolve("grafana/dashboards/forge-pipeline.json").toFile());
        Set<String> variables = new TreeSet<>();
        dashboard.path("templating").path("list").forEach(v -> variables.add(v.path("name").asText()));
        assertTrue(variables.containsAll(Set.of("run", "stage")), "template variables: " + variables);

        Map<String, String> exprs = dashboardExpressions();
        Set<String> used = new TreeSet<>();
        exprs.forEach((where, expr) -> {
            Set<String> metrics = metricNames(expr);
            used.addAll(metrics);
            if (where.startsWith("panel") && metrics.stream().anyMatch(m -> m.startsWith("forge_"))) {
                assertTrue(expr.contains("$run") && expr.contains("$stage"), where + " does not filter by run and stage: " + expr);
            }
        });
        // Every exported training metric family is on the dashboard (a family: the name without Micrometer's suffixes).
        Set<String> missing = new TreeSet<>();
        for (String m : exported) {
            String family = m.replaceAll("_(total|count|sum|max|bucket)$", "");
            if (used.stream().noneMatch(u -> u.startsWith(family))) {
                missing.add(family);
            }
        }
        assertTrue(missing.isEmpty(), "training metrics not on the dashboard: " + missing);
        assertTrue(used.stream().anyMatch(m -> m.startsWith("temporal_activity_execution_latency")), "activity latency");
        assertTrue(used.stream().anyMatch(m -> m.startsWith("temporal_activity_execution_failed")), "activity failures");
    }

    @Test
    void everyPromQlExpressionIsBalanced() throws IOException {
        Map<String, String> all = new LinkedHashMap<>(alertExpressions());
        all.putAll(dashboardExpressions());
        all.forEach((where, expr) -> {
            String bare = QUOTED.matcher(expr).replaceAll("\"\"");
            assertFalse(bare.replace("\"\"", "").contains("\""), where + ": unterminated string in " + expr);
            int round = 0;
            int square = 0;
            int curly = 0;
            for (char c : bare.toCharArray()) {
                switch (c) {
                    case '(' -> round++;
                    case ')' -> round--;
                    case '[' -> square++;
                    case ']' -> square--;
                    case '{' -> curly++;
                    case '}' -> curly--;
                    default -> { }
                }
                assertTrue(round >= 0 && square >= 0 && curly >= 0, where + ": unbalanced " + expr);
            }
            assertEquals(0, round + square + curly, where + ": unbalanced " + expr);
            assertFalse(metricNames(expr).isEmpty() && !expr.contains("up{"), where + ": no metric in " + expr);
        });
    }

    @Test
    void plannedMetricsAreNotExportedYet() {
        for (String m : PLANNED_METRICS.keySet()) {
            assertFalse(exported.contains(m), m + " is exported now: remove it from PLANNED_METRICS");
        }
    }

    @Test
    void temporalMetricAllowlistMatchesTheSdk() throws IllegalAccessException {
        Set<String> sdk = new TreeSet<>();
        for (Class<?> type : List.of(io.temporal.worker.MetricsType.class, io.temporal.serviceclient.MetricsType.class)) {
            for (Field f : type.getFields()) {
                if (Modifier.isStatic(f.getModifiers()) && f.getType() == String.class) {
                    sdk.add((String) f.get(null));
                }
            }
        }
        for (String m : TEMPORAL_METRICS) {
            String base = m.replaceAll("_seconds_(bucket|count|sum|max)$|_total$", "");
            assertTrue(sdk.contains(base), m + " does not come from an SDK metric (" + base + " not in MetricsType)");
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // promtool, where installed

    @Test
    void promtoolAcceptsRulesAndConfig() throws Exception {
        Assumptions.assumeTrue(onPath("promtool"), "promtool is not installed; skipping its checks");
        run("promtool", "check", "rules", INFRA.resolve("prometheus/alerts.yml").toString());
        run("promtool", "check", "config", "--syntax-only", INFRA.resolve("prometheus/prometheus.yml").toString());
    }

    // ---------------------------------------------------------------------------------------------------------
    // helpers

    private static void assertImage(Map<String, String> images, String service, String prefix) {
        assertTrue(images.containsKey(service), "compose service " + service + " missing: " + images.keySet());
        assertTrue(images.get(service).startsWith(prefix), service + " image " + images.get(service));
    }

    private static void assertProbesOnMetricsPort(JsonNode container, Map<String, String> env) {
        int metricsPort = Integer.parseInt(env.getOrDefault("FORGE_METRICS_PORT", "9464"));
        assertEquals(9464, metricsPort, "FORGE_METRICS_PORT");
        Map<String, Integer> ports = new HashMap<>();
        container.path("ports").forEach(p -> ports.put(p.path("name").asText(), p.path("containerPort").asInt()));
        for (String probe : List.of("livenessProbe", "readinessProbe")) {
            JsonNode get = container.path(probe).path("httpGet");
            assertEquals("/metrics", get.path("path").asText(), probe + " path");
            JsonNode port = get.path("port");
            int resolved = port.isInt() ? port.asInt() : ports.getOrDefault(port.asText(), -1);
            assertEquals(metricsPort, resolved, probe + " port");
        }
    }

    private static void assertServiceAccountWithIrsa(List<JsonNode> k8s, JsonNode pod) {
        String account = pod.path("serviceAccountName").asText();
        assertFalse(account.isEmpty(), "serviceAccountName");
        JsonNode sa = k8s.stream()
                .filter(o -> o.path("kind").asText().equals("ServiceAccount")
                        && o.path("metadata").path("name").asText().equals(account))
                .findFirst().orElse(null);
        assertNotNull(sa, "ServiceAccount " + account + " is not in infra/k8s");
        String role = sa.path("metadata").path("annotations").path("eks.amazonaws.com/role-arn").asText();
        assertTrue(role.startsWith("arn:aws:iam::") && role.contains(":role/"), "IRSA role annotation: " + role);
    }

    private static JsonNode deploymentWithRole(List<JsonNode> k8s, String role) {
        List<JsonNode> found = k8s.stream()
                .filter(o -> o.path("kind").asText().equals("Deployment"))
                .filter(o -> {
                    JsonNode c = o.path("spec").path("template").path("spec").path("containers").get(0);
                    List<String> args = new ArrayList<>();
                    c.path("command").forEach(a -> args.add(a.asText()));
                    c.path("args").forEach(a -> args.add(a.asText()));
                    String line = String.join(" ", args);
                    return line.contains("worker") && line.contains("--role " + role);
                })
                .toList();
        assertEquals(1, found.size(), "Deployments running `forge worker --role " + role + "`");
        return found.get(0);
    }

    /** The container's environment as the worker sees it: ConfigMaps from envFrom, then env (which wins). */
    private static Map<String, String> resolvedEnv(List<JsonNode> k8s, JsonNode container) {
        Map<String, String> env = new HashMap<>();
        container.path("envFrom").forEach(from -> {
            String cm = from.path("configMapRef").path("name").asText();
            if (!cm.isEmpty()) {
                JsonNode map = k8s.stream()
                        .filter(o -> o.path("kind").asText().equals("ConfigMap") && o.path("metadata").path("name").asText().equals(cm))
                        .findFirst().orElseThrow(() -> new AssertionError("ConfigMap " + cm + " is not in infra/k8s"));
                env.putAll(mapOf(map.path("data")));
            }
        });
        container.path("env").forEach(e -> {
            if (e.has("value")) {
                env.put(e.path("name").asText(), e.path("value").asText());
            }
        });
        return env;
    }

    private static List<JsonNode> containers(JsonNode o) {
        List<JsonNode> out = new ArrayList<>();
        JsonNode pod = o.path("spec").path("template").path("spec");
        pod.path("containers").forEach(out::add);
        pod.path("initContainers").forEach(out::add);
        return out;
    }

    /** Every FORGE_* variable a file sets must be one the worker reads: a typo would be silently ignored. */
    private static void assertKnownForgeVariables(String where, Set<String> names) {
        Set<String> known = forgeVariablesReadByCode();
        for (String n : names) {
            if (n.startsWith("FORGE_")) {
                assertTrue(known.contains(n), where + ": " + n + " is read by no code (known: " + known + ")");
            }
        }
    }

    private static Set<String> knownForgeVariables;

    private static synchronized Set<String> forgeVariablesReadByCode() {
        if (knownForgeVariables == null) {
            Set<String> names = new TreeSet<>(LAUNCHER_VARIABLES);
            Pattern literal = Pattern.compile("\"(FORGE_[A-Z0-9_]+)\"");
            try (Stream<Path> sources = Files.walk(ROOT.resolve("workers/src/main/java"))) {
                for (Path p : sources.filter(f -> f.toString().endsWith(".java")).toList()) {
                    Matcher m = literal.matcher(Files.readString(p));
                    while (m.find()) {
                        names.add(m.group(1));
                    }
                }
            } catch (IOException e) {
                throw new AssertionError(e);
            }
            assertTrue(names.containsAll(Set.of("FORGE_TEMPORAL_ADDRESS", "FORGE_SHUTDOWN_GRACE_SECONDS", "FORGE_S3_BUCKET")),
                    "FORGE_* names found in workers/src/main/java: " + names);
            knownForgeVariables = names;
        }
        return knownForgeVariables;
    }

    /** alert name (prefixed by its group) to expression. */
    private static Map<String, String> alertExpressions() throws IOException {
        Map<String, String> out = new LinkedHashMap<>();
        for (JsonNode g : single(INFRA.resolve("prometheus/alerts.yml")).path("groups")) {
            for (JsonNode r : g.path("rules")) {
                String name = r.has("alert") ? r.path("alert").asText() : r.path("record").asText();
                out.put(g.path("name").asText() + ":" + name, r.path("expr").asText());
            }
        }
        assertTrue(out.size() >= 5, "alert rules: " + out.keySet());
        return out;
    }

    private static String exprOf(Map<String, String> rules, String alert) {
        return rules.entrySet().stream().filter(e -> e.getKey().endsWith(":" + alert)).map(Map.Entry::getValue)
                .findFirst().orElseThrow();
    }

    /** "panel <title> <refId>" or "variable <name>" to PromQL, over every dashboard JSON under infra/grafana. */
    private static Map<String, String> dashboardExpressions() throws IOException {
        Map<String, String> out = new LinkedHashMap<>();
        for (Path p : files(f -> f.startsWith(INFRA.resolve("grafana")) && f.toString().endsWith(".json"))) {
            JsonNode d = JSON.readTree(p.toFile());
            collectPanels(d.path("panels"), p.getFileName().toString(), out);
            for (JsonNode v : d.path("templating").path("list")) {
                if (v.path("type").asText().equals("query")) {
                    JsonNode q = v.path("query");
                    out.put("variable " + v.path("name").asText(), q.isObject() ? q.path("query").asText() : q.asText());
                }
            }
        }
        assertTrue(out.keySet().stream().filter(k -> k.startsWith("panel")).count() >= 10, "panel queries: " + out.keySet());
        return out;
    }

    private static void collectPanels(JsonNode panels, String file, Map<String, String> out) {
        for (JsonNode panel : panels) {
            for (JsonNode t : panel.path("targets")) {
                if (t.has("expr")) {
                    out.put("panel " + file + " '" + panel.path("title").asText() + "' " + t.path("refId").asText(),
                            t.path("expr").asText());
                }
            }
            collectPanels(panel.path("panels"), file, out);
        }
    }

    /** Metric names in a PromQL expression: forge_* and temporal_* identifiers outside string literals. */
    static Set<String> metricNames(String expr) {
        String bare = QUOTED.matcher(expr).replaceAll("\"\"");
        Set<String> names = new TreeSet<>();
        Matcher m = METRIC.matcher(bare);
        while (m.find()) {
            names.add(m.group(1));
        }
        return names;
    }

    private static List<JsonNode> kubernetesObjects() throws IOException {
        List<JsonNode> out = new ArrayList<>();
        for (Path p : files(f -> f.startsWith(INFRA.resolve("k8s")) && (f.toString().endsWith(".yaml") || f.toString().endsWith(".yml")))) {
            for (JsonNode d : yamlDocuments(p)) {
                if (d.has("apiVersion") && d.has("kind")) {
                    out.add(d);
                }
            }
        }
        assertTrue(out.stream().anyMatch(o -> o.path("kind").asText().equals("Deployment")), "no Deployment in infra/k8s");
        return out;
    }

    private static List<JsonNode> yamlDocuments(Path p) throws IOException {
        List<JsonNode> docs = new ArrayList<>();
        try (var it = YAML.readerFor(JsonNode.class).<JsonNode>readValues(p.toFile())) {
            while (it.hasNextValue()) {
                JsonNode d = it.nextValue();
                if (d != null && !d.isNull() && !d.isMissingNode()) {
                    docs.add(d);
                }
            }
        } catch (IOException | RuntimeException e) {
            fail(p + " does not parse as YAML: " + e.getMessage());
        }
        return docs;
    }

    private static JsonNode single(Path p) throws IOException {
        List<JsonNode> docs = yamlDocuments(p);
        assertEquals(1, docs.size(), p + " documents");
        return docs.get(0);
    }

    private static Map<String, String> mapOf(JsonNode node) {
        Map<String, String> out = new TreeMap<>();
        if (node instanceof ObjectNode o) {
            for (Iterator<Map.Entry<String, JsonNode>> it = o.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                out.put(e.getKey(), e.getValue().asText());
            }
        } else if (node.isArray()) { // compose's list form: - NAME=value
            node.forEach(e -> {
                String[] kv = e.asText().split("=", 2);
                out.put(kv[0], kv.length > 1 ? kv[1] : "");
            });
        }
        return out;
    }

    private static int seconds(String duration) {
        Matcher m = Pattern.compile("(?:(\\d+)m)?(?:(\\d+)s)?").matcher(duration);
        assertTrue(!duration.isEmpty() && m.matches(), "duration " + duration);
        return (m.group(1) == null ? 0 : Integer.parseInt(m.group(1)) * 60) + (m.group(2) == null ? 0 : Integer.parseInt(m.group(2)));
    }

    private static List<Path> files(java.util.function.Predicate<Path> filter) throws IOException {
        assertTrue(Files.isDirectory(INFRA), "no infra/ at " + INFRA);
        try (Stream<Path> s = Files.walk(INFRA)) {
            return s.filter(Files::isRegularFile).filter(filter).sorted().toList();
        }
    }

    private static boolean onPath(String tool) {
        String path = System.getenv("PATH");
        return path != null && Stream.of(path.split(java.io.File.pathSeparator))
                .anyMatch(dir -> Files.isExecutable(Path.of(dir, tool)));
    }

    private static void run(String... command) throws Exception {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), String.join(" ", command) + " hung");
        assertEquals(0, p.exitValue(), String.join(" ", command) + ":\n" + out);
    }
}
