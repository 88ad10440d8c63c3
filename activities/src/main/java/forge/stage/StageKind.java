package forge.stage;

import com.fasterxml.jackson.databind.JsonNode;
import forge.train.StageControl;
import forge.train.StageOutcome;

import java.util.function.Function;

/**
 * One kind of stage as the registry knows it: its name in a spec, how its config is read (strictly: unknown keys
 * and bad values are a {@link forge.errors.BadInputException} naming the field), and how it runs.
 */
public final class StageKind<C> {
    /** Builds and runs a stage from its parsed config. */
    @FunctionalInterface
    public interface Runner<C> {
        StageOutcome run(C config, StageEnv env, StageControl control);
    }

    private final String name;
    private final Function<JsonNode, C> parser;
    private final Runner<C> runner;

    private StageKind(String name, Function<JsonNode, C> parser, Runner<C> runner) {
        this.name = name;
        this.parser = parser;
        this.runner = runner;
    }

    public static <C> StageKind<C> of(String name, Function<JsonNode, C> parser, Runner<C> runner) {
        return new StageKind<>(name, parser, runner);
    }

    public String name() {
        return name;
    }

    public C parse(JsonNode config) {
        return parser.apply(config);
    }

    public StageOutcome run(StageEnv env, StageControl control) {
        return runner.run(parse(env.input().config()), env, control);
    }
}
