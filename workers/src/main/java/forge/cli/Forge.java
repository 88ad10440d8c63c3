package forge.cli;

import forge.errors.BadInputException;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.ScopeType;

/**
 * The {@code ./forge} command line. Exit codes: 0 success, 1 the pipeline failed or was cancelled, 2 bad input
 * (spec, flags, unknown run), 3 cannot reach Temporal or S3.
 */
// Inherited, so that every command and subcommand answers --help.
@Command(name = "forge", mixinStandardHelpOptions = true, scope = ScopeType.INHERIT, version = "LLM Forge 0.1.0",
        description = "Durable four-stage language-model training on Temporal.",
        subcommands = {DemoCommand.class, DevCommand.class, WorkerCommand.class, StartCommand.class,
                RunCommands.Status.class, RunCommands.Watch.class, RunCommands.Pause.class,
                RunCommands.Resume.class, RunCommands.Cancel.class, ScoreCommand.class, GenerateCommand.class,
                BenchCommand.class, CodecServerCommand.class, GpuVerifyCommand.class})
public final class Forge {
    public static final int EXIT_FAILED = 1;
    public static final int EXIT_BAD_INPUT = 2;
    public static final int EXIT_UNREACHABLE = 3;

    public static void main(String[] args) {
        // The demo draws a progress bar and the benchmarks print their own progress; routine INFO logs go to the log
        // file instead of through them.
        if (args.length > 0 && (args[0].equals("demo") || args[0].equals("bench"))
                && System.getProperty("forge.console.level") == null) {
            System.setProperty("forge.console.level", "WARN");
        }
        System.exit(execute(args));
    }

    private static String rootMessage(Throwable t) {
        Throwable c = t;
        while (c.getCause() != null) {
            c = c.getCause();
        }
        return c.getMessage();
    }

    public static int execute(String... args) {
        CommandLine cli = new CommandLine(new Forge());
        cli.setExecutionExceptionHandler((e, cmd, parsed) -> {
            for (Throwable c = e; c != null; c = c.getCause()) {
                if (c instanceof BadInputException) {
                    cmd.getErr().println("error: " + c.getMessage());
                    return EXIT_BAD_INPUT;
                }
                if (c instanceof io.temporal.client.WorkflowNotFoundException nf) {
                    cmd.getErr().println("error: no such run: " + nf.getExecution().getWorkflowId());
                    return EXIT_BAD_INPUT;
                }
                if (c instanceof io.grpc.StatusRuntimeException s) {
                    if (s.getStatus().getCode() == io.grpc.Status.Code.UNAVAILABLE) {
                        cmd.getErr().println("error: cannot reach Temporal: " + rootMessage(s));
                        return EXIT_UNREACHABLE;
                    }
                    if (s.getStatus().getCode() == io.grpc.Status.Code.NOT_FOUND) {
                        cmd.getErr().println("error: " + s.getStatus().getDescription());
                        return EXIT_BAD_INPUT;
                    }
                }
                if (c instanceof forge.storage.StorageUnavailableException s3) {
                    cmd.getErr().println("error: " + s3.getMessage());
                    return EXIT_UNREACHABLE;
                }
                if (c instanceof io.temporal.client.WorkflowExecutionAlreadyStarted already) {
                    cmd.getErr().println("error: a run with id " + already.getExecution().getWorkflowId() + " is already running");
                    return EXIT_BAD_INPUT;
                }
            }
            throw e;
        });
        return cli.execute(args);
    }
}
