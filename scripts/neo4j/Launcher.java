import java.nio.file.Files;
import java.nio.file.Path;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;

/**
 * Runs an embedded Neo4j Community DBMS with Bolt on 127.0.0.1:PORT for idstitch's tests and
 * benchmarks: java -cp CLASSPATH Launcher.java HOME_DIR PORT. Auth is off and the bind is
 * loopback only: this is a test server, not a deployment.
 */
public class Launcher {
  public static void main(String[] args) throws Exception {
    Path home = Path.of(args[0]).toAbsolutePath();
    String port = args[1];
    Files.createDirectories(home);
    Path conf = home.resolve("neo4j.conf");
    Files.writeString(
        conf,
        String.join(
            "\n",
            "server.bolt.enabled=true",
            "server.bolt.listen_address=127.0.0.1:" + port,
            "server.bolt.tls_level=DISABLED",
            "dbms.security.auth_enabled=false",
            "server.memory.pagecache.size=64m",
            "db.tx_log.rotation.retention_policy=2 files",
            ""));
    DatabaseManagementService dbms =
        new DatabaseManagementServiceBuilder(home).loadPropertiesFromFile(conf).build();
    Runtime.getRuntime().addShutdownHook(new Thread(dbms::shutdown));
    System.out.println("READY bolt://127.0.0.1:" + port);
    System.out.flush();
    Thread.currentThread().join();
  }
}
