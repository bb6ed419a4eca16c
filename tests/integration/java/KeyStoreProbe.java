import java.io.FileInputStream;
import java.security.KeyStore;
import java.security.MessageDigest;
import java.security.cert.X509Certificate;
import java.util.Collections;

/** java KeyStoreProbe FILE PASSWORD: prints alias|isKeyEntry|subject|SHA-256 of each entry of a PKCS12 file. */
public class KeyStoreProbe {
    public static void main(String[] args) throws Exception {
        KeyStore store = KeyStore.getInstance("PKCS12");
        char[] password = args[1].toCharArray();
        try (FileInputStream in = new FileInputStream(args[0])) {
            store.load(in, password);
        }
        for (String alias : Collections.list(store.aliases())) {
            X509Certificate cert = (X509Certificate) store.getCertificate(alias);
            boolean hasKey = store.isKeyEntry(alias) && store.getKey(alias, password) != null;
            StringBuilder hex = new StringBuilder();
            for (byte b : MessageDigest.getInstance("SHA-256").digest(cert.getEncoded())) {
                hex.append(String.format("%02X", b));
            }
            System.out.println(alias + "|" + hasKey + "|" + cert.getSubjectX500Principal().getName() + "|" + hex);
        }
    }
}
