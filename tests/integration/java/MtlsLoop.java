import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Properties;

/**
 * java MtlsLoop URL STOPFILE INTERVAL_MS key=value...: until STOPFILE exists, opens a new connection with the given
 * properties every INTERVAL_MS (start to start), runs select current_user (which must be the user property, if given)
 * and closes it. Prints STARTED after the first attempt, "FAIL instant class: message; caused by ..." per failed
 * attempt and "RESULT attempted=n failed=m" at the end. connectTimeout and socketTimeout default to 10 s. The loop
 * also ends, without a RESULT, when stdin closes: the harness that started it is gone.
 */
public class MtlsLoop {
    public static void main(String[] args) throws Exception {
        Path stop = Paths.get(args[1]);
        long interval = Long.parseLong(args[2]);
        Properties props = new Properties();
        props.setProperty("connectTimeout", "10");
        props.setProperty("socketTimeout", "10");
        for (int i = 3; i < args.length; i++) {
            int eq = args[i].indexOf('=');
            props.setProperty(args[i].substring(0, eq), args[i].substring(eq + 1));
        }
        Thread orphaned = new Thread(() -> {
            try {
                while (System.in.read() != -1) {
                    // nothing is sent: this only waits for the end of stdin
                }
            } catch (IOException e) {
                // a broken stdin: the harness is gone as well
            }
            System.exit(3);
        });
        orphaned.setDaemon(true);
        orphaned.start();
        long attempted = 0;
        long failed = 0;
        while (!Files.exists(stop)) {
            long start = System.nanoTime();
            attempted++;
            try {
                connect(args[0], props);
            } catch (Exception e) {
                failed++;
                System.out.println("FAIL " + Instant.now().truncatedTo(ChronoUnit.MILLIS) + " " + describe(e));
            }
            if (attempted == 1) {
                System.out.println("STARTED");
            }
            System.out.flush();
            long left = interval - (System.nanoTime() - start) / 1_000_000;
            if (left > 0) {
                Thread.sleep(left);
            }
        }
        System.out.println("RESULT attempted=" + attempted + " failed=" + failed);
        System.out.flush();
    }

    private static void connect(String url, Properties props) throws Exception {
        try (Connection c = DriverManager.getConnection(url, props);
             ResultSet rs = c.createStatement().executeQuery("select current_user")) {
            String expected = props.getProperty("user");
            String user = rs.next() ? rs.getString(1) : null;
            if (user == null || expected != null && !expected.equals(user)) {
                throw new IllegalStateException("select current_user returned " + user);
            }
        }
    }

    /** The exception and those of its causes that add something, on one line. */
    private static String describe(Throwable e) {
        StringBuilder line = new StringBuilder();
        int depth = 0;
        for (Throwable t = e; t != null && depth < 6; t = t.getCause(), depth++) {
            String message = String.valueOf(t.getMessage());
            if (depth == 0 || line.indexOf(message) < 0) {  // pgjdbc's messages often repeat their cause's
                line.append(depth == 0 ? "" : "; caused by ").append(t.getClass().getName()).append(": ")
                    .append(message);
            }
        }
        return line.toString().replaceAll("\\s+", " ");
    }
}
