import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.util.Properties;

/** java MtlsProbe URL key=value...: connects with the given properties and prints user|tls version. */
public class MtlsProbe {
    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        for (int i = 1; i < args.length; i++) {
            int eq = args[i].indexOf('=');
            props.setProperty(args[i].substring(0, eq), args[i].substring(eq + 1));
        }
        try (Connection c = DriverManager.getConnection(args[0], props);
             ResultSet rs = c.createStatement().executeQuery(
                 "select current_user, version from pg_stat_ssl where pid = pg_backend_pid()")) {
            rs.next();
            System.out.println(rs.getString(1) + "|" + rs.getString(2));
        }
    }
}
